@echo off
rem fleetcheck: enable WinRM for the fleetcheck controller. Run as administrator (right-click, Run as administrator).
setlocal
net session >nul 2>&1
if errorlevel 1 (
  echo fleetcheck: 请以管理员身份运行 / run this as administrator
  exit /b 2
)
set "FC_PS=%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe"
if exist "%SystemRoot%\Sysnative\WindowsPowerShell\v1.0\powershell.exe" set "FC_PS=%SystemRoot%\Sysnative\WindowsPowerShell\v1.0\powershell.exe"
"%FC_PS%" -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%~dp0enable-winrm.ps1"
exit /b %ERRORLEVEL%
