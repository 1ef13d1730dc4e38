# fleetcheck WinRM enablement, written by `fleetcheck winrm-setup`.
#
# Run once per PC as administrator (enable-winrm.cmd does this). It:
#   * sets the Windows Remote Management service to start automatically and starts it;
#   * creates one WinRM listener: HTTPS with the given certificate (or, on Windows
#     8.1 and later only, a new self-signed one), or HTTP when --https was not given;
#   * adds one inbound firewall rule (netsh advfirewall) for that port that allows
#     only the controller's address;
#   * turns Basic authentication and unencrypted traffic OFF on the service;
#   * never sets TrustedHosts (a client setting) and never a '*' anywhere.
# Each setting's value before the change is recorded in
# winrm-prior-<COMPUTERNAME>.txt beside this script (the first run's values are
# kept); undo-winrm.ps1 restores them.
#
# PowerShell 2.0 / .NET 3.5 safe (Windows 7 SP1). The only values fleetcheck
# wrote into this file are the three quoted literals below: data, never code.

# ---- data (written by fleetcheck, validated there) ----
$Controller = '@CONTROLLER@'
$Transport = '@TRANSPORT@'
$CertThumbprint = '@THUMBPRINT@'
# ----

$ErrorActionPreference = 'Stop'
$RuleName = 'fleetcheck WinRM from controller'
$Port = 5985
if ($Transport -eq 'HTTPS') {
    $Port = 5986
}
$PriorFile = Join-Path (Split-Path -Parent $MyInvocation.MyCommand.Path) ('winrm-prior-' + $env:COMPUTERNAME + '.txt')

function Write-Line {
    param([string]$Text)
    [Console]::WriteLine($Text)
}

function Get-ControllerAddresses {
    # An IP address is used as given; a host name is resolved once, here, because
    # a firewall rule's remoteip takes addresses only.
    $parsed = $null
    if ([System.Net.IPAddress]::TryParse($Controller, [ref]$parsed)) {
        return @($parsed.ToString())
    }
    $found = @()
    foreach ($address in [System.Net.Dns]::GetHostAddresses($Controller)) {
        $found += $address.ToString()
    }
    if ($found.Count -eq 0) {
        throw ('cannot resolve the controller ' + $Controller)
    }
    return $found
}

function Get-ListenerNames {
    $names = @()
    foreach ($item in @(Get-ChildItem -Path 'WSMan:\localhost\Listener')) {
        foreach ($key in @($item.Keys)) {
            if ($key -eq ('Transport=' + $Transport)) {
                $names += $item.Name
            }
        }
    }
    return $names
}

function Save-Prior {
    # Only the first run records: a second run must not take our own values for the PC's.
    # The record is started before anything changes (a read-only folder stops here).
    if (Test-Path -LiteralPath $PriorFile) {
        Write-Line ('fleetcheck: 已有原值记录，保留不变 / prior values already recorded, kept: ' + $PriorFile)
        return $false
    }
    $service = Get-WmiObject -Class Win32_Service -Filter "Name='WinRM'"
    $rule = & netsh.exe advfirewall firewall show rule ('name=' + $RuleName)
    $lines = New-Object System.Collections.ArrayList
    [void]$lines.Add('ServiceStartMode=' + $service.StartMode)
    [void]$lines.Add('ServiceState=' + $service.State)
    [void]$lines.Add('FirewallRuleExisted=' + ($LASTEXITCODE -eq 0))
    [System.IO.File]::WriteAllLines($PriorFile, [string[]]$lines.ToArray())
    return $true
}

function Save-PriorWsman {
    # What only a running service can tell; appended to the record Save-Prior started.
    $lines = New-Object System.Collections.ArrayList
    [void]$lines.Add('ListenerExisted=' + (@(Get-ListenerNames).Count -gt 0))
    [void]$lines.Add('Transport=' + $Transport)
    [void]$lines.Add('AllowUnencrypted=' + (Get-Item -Path 'WSMan:\localhost\Service\AllowUnencrypted').Value)
    [void]$lines.Add('Basic=' + (Get-Item -Path 'WSMan:\localhost\Service\Auth\Basic').Value)
    [System.IO.File]::AppendAllText($PriorFile, [string]::Join("`r`n", [string[]]$lines.ToArray()) + "`r`n")
    Write-Line ('fleetcheck: 原值已记录 / prior values recorded: ' + $PriorFile)
}

function Get-CertificateThumbprint {
    if ($CertThumbprint.Length -gt 0) {
        if (-not (Test-Path -LiteralPath ('Cert:\LocalMachine\My\' + $CertThumbprint))) {
            throw ('certificate ' + $CertThumbprint + ' is not in Cert:\LocalMachine\My')
        }
        return $CertThumbprint
    }
    # Windows 7 has no way to make a certificate from PowerShell 2.0: the
    # kit was written without --cert-thumbprint, so stop and say so.
    if ($null -eq (Get-Command -Name New-SelfSignedCertificate -ErrorAction SilentlyContinue)) {
        throw 'no certificate given and New-SelfSignedCertificate is missing (Windows 7): run fleetcheck winrm-setup --https --cert-thumbprint T'
    }
    $dns = [System.Net.Dns]::GetHostName()
    $made = New-SelfSignedCertificate -DnsName $dns -CertStoreLocation 'Cert:\LocalMachine\My'
    return $made.Thumbprint
}

function Enable-Listener {
    if (@(Get-ListenerNames).Count -gt 0) {
        Write-Line ('fleetcheck: ' + $Transport + ' 监听器已存在 / listener exists')
        return
    }
    if ($Transport -eq 'HTTPS') {
        $thumb = Get-CertificateThumbprint
        [void](New-Item -Path 'WSMan:\localhost\Listener' -Address '*' -Transport HTTPS -CertificateThumbPrint $thumb -Force)
    }
    else {
        [void](New-Item -Path 'WSMan:\localhost\Listener' -Address '*' -Transport HTTP -Force)
    }
    Write-Line ('fleetcheck: 已创建 ' + $Transport + ' 监听器 / listener created')
}

function Set-FirewallRule {
    $remote = [string]::Join(',', [string[]](Get-ControllerAddresses))
    $old = & netsh.exe advfirewall firewall delete rule ('name=' + $RuleName)
    $out = & netsh.exe advfirewall firewall add rule ('name=' + $RuleName) 'dir=in' 'action=allow' 'protocol=TCP' ('localport=' + $Port) ('remoteip=' + $remote) 'profile=any'
    if ($LASTEXITCODE -ne 0) {
        throw ('netsh advfirewall failed: ' + [string]::Join(' ', [string[]]$out))
    }
    Write-Line ('fleetcheck: 防火墙只允许控制机 / firewall allows only the controller: ' + $remote + ' -> TCP ' + $Port)
}

Write-Line 'fleetcheck: 正在启用 WinRM / enabling WinRM...'
try {
    $recording = Save-Prior
    Set-Service -Name WinRM -StartupType Automatic
    Start-Service -Name WinRM
    if ($recording) {
        Save-PriorWsman
    }
    Enable-Listener
    Set-Item -Path 'WSMan:\localhost\Service\Auth\Basic' -Value $false -Force
    Set-Item -Path 'WSMan:\localhost\Service\AllowUnencrypted' -Value $false -Force
    Set-FirewallRule
    if ((Get-Item -Path 'WSMan:\localhost\Client\TrustedHosts').Value -eq '*') {
        Write-Line 'fleetcheck: 警告：本机 TrustedHosts 为 *（未更改）/ warning: this PC''s TrustedHosts is * (left unchanged)'
    }
}
catch {
    Write-Line ('fleetcheck: 失败 / failed: ' + $_.Exception.Message)
    Write-Line 'fleetcheck: 可运行 undo-winrm.cmd 恢复原值 / undo-winrm.cmd restores the recorded values'
    exit 1
}
Write-Line 'fleetcheck: 完成 / done'
exit 0
