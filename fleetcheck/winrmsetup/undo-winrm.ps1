# fleetcheck WinRM undo, written by `fleetcheck winrm-setup`.
#
# Run as administrator on a PC where enable-winrm.ps1 ran (undo-winrm.cmd does
# this). Restores each setting from winrm-prior-<COMPUTERNAME>.txt beside this
# script: the firewall rule is removed (or kept when it existed before), the
# listener removed when enable-winrm.ps1 created it, Basic and AllowUnencrypted
# set back, the service's start mode and state restored. Then the record is
# renamed *.restored so a second undo does nothing.
#
# PowerShell 2.0 / .NET 3.5 safe. No value from fleetcheck is written into this file.

$ErrorActionPreference = 'Stop'
$RuleName = 'fleetcheck WinRM from controller'
$PriorFile = Join-Path (Split-Path -Parent $MyInvocation.MyCommand.Path) ('winrm-prior-' + $env:COMPUTERNAME + '.txt')
$StartModes = @{ 'Auto' = 'Automatic'; 'Manual' = 'Manual'; 'Disabled' = 'Disabled' }

function Write-Line {
    param([string]$Text)
    [Console]::WriteLine($Text)
}

function Read-Prior {
    $prior = @{}
    foreach ($line in [System.IO.File]::ReadAllLines($PriorFile)) {
        $at = $line.IndexOf('=')
        if ($at -gt 0) {
            $prior[$line.Substring(0, $at)] = $line.Substring($at + 1)
        }
    }
    return $prior
}

function Remove-Listener {
    param([string]$Transport)
    foreach ($item in @(Get-ChildItem -Path 'WSMan:\localhost\Listener')) {
        foreach ($key in @($item.Keys)) {
            if ($key -eq ('Transport=' + $Transport)) {
                Remove-Item -Path ('WSMan:\localhost\Listener\' + $item.Name) -Recurse -Force
            }
        }
    }
}

if (-not (Test-Path -LiteralPath $PriorFile)) {
    Write-Line ('fleetcheck: 没有原值记录，不做任何更改 / no recorded values, nothing changed: ' + $PriorFile)
    exit 2
}
try {
    $prior = Read-Prior
    if ($prior['FirewallRuleExisted'] -ne 'True') {
        $out = & netsh.exe advfirewall firewall delete rule ('name=' + $RuleName)
    }
    # A value the record lacks was never changed (enable-winrm.ps1 stopped before it): left alone.
    if ($prior.ContainsKey('ListenerExisted')) {
        Start-Service -Name WinRM
        if ($prior['ListenerExisted'] -ne 'True') {
            Remove-Listener $prior['Transport']
        }
        Set-Item -Path 'WSMan:\localhost\Service\Auth\Basic' -Value ($prior['Basic'] -eq 'true') -Force
        Set-Item -Path 'WSMan:\localhost\Service\AllowUnencrypted' -Value ($prior['AllowUnencrypted'] -eq 'true') -Force
    }
    $mode = $StartModes[$prior['ServiceStartMode']]
    if ($null -ne $mode) {
        Set-Service -Name WinRM -StartupType $mode
    }
    if ($prior['ServiceState'] -eq 'Stopped') {
        Stop-Service -Name WinRM -Force
    }
    [System.IO.File]::Move($PriorFile, $PriorFile + '.restored')
}
catch {
    Write-Line ('fleetcheck: 失败 / failed: ' + $_.Exception.Message)
    exit 1
}
Write-Line 'fleetcheck: 已恢复原值 / the recorded values are restored'
exit 0
