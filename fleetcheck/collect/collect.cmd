@echo off
rem fleetcheck local collection kit, written by `fleetcheck collect script`.
rem Usage: collect.cmd [OUTPUT-FOLDER]   (default: the kit's own folder)
rem Reads this PC's settings, changes nothing. Runs the 64-bit PowerShell
rem on 64-bit Windows, as WinRM does, also when started from a 32-bit program.
setlocal
set "FC_PS=%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe"
if exist "%SystemRoot%\Sysnative\WindowsPowerShell\v1.0\powershell.exe" set "FC_PS=%SystemRoot%\Sysnative\WindowsPowerShell\v1.0\powershell.exe"
if not exist "%FC_PS%" (
  echo fleetcheck: 本机没有 Windows PowerShell / Windows PowerShell not found on this PC
  exit /b 2
)
"%FC_PS%" -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%~dp0collect.ps1" %1
exit /b %ERRORLEVEL%
