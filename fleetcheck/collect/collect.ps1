# fleetcheck local collection kit, written by `fleetcheck collect script`.
#
# Run collect.cmd on a PC (from a USB stick, a share or a logon script), or:
#   powershell.exe -NoProfile -ExecutionPolicy Bypass -File collect.ps1 [OUTPUT-FOLDER]
# It reads this PC's settings with the fleetcheck agent (the same agent.ps1 and
# the same request a WinRM sweep sends, carried below as base64 data) and writes
# one answer file, <COMPUTERNAME>-<yyyyMMddTHHmmssZ>.json (UTC), beside itself or
# into OUTPUT-FOLDER (a local folder or a share). It changes nothing on the PC.
# Bring the files back and run: fleetcheck collect import FOLDER -i inventory.yaml
#
# PowerShell 2.0 / .NET 3.5 safe. The only values written into this file by
# fleetcheck are the three base64 lines below: data, never code.
param([string]$OutDir = '')

# ---- data (base64; written by fleetcheck) ----
$AgentLine = '@AGENT_LINE@'
$RequestLine = '@REQUEST_LINE@'
$BootstrapCommand = '@BOOTSTRAP@'
# ----

$ErrorActionPreference = 'Stop'
# As the controller's limits: an answer larger than this is refused on import anyway.
$MaxAnswerBytes = 16777216
$MaxSeconds = 600

function Write-Line {
    param([string]$Text)
    [Console]::WriteLine($Text)
}

function Get-TargetFolder {
    param([string]$Given)
    if ($Given.Length -gt 0) {
        return $Given
    }
    return (Split-Path -Parent $MyInvocation.ScriptName)
}

function Start-Agent {
    # powershell.exe with the fixed bootstrap, exactly the command line WinRM runs.
    $info = New-Object System.Diagnostics.ProcessStartInfo
    $info.FileName = Join-Path $PSHOME 'powershell.exe'
    $info.Arguments = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ' + $BootstrapCommand
    $info.UseShellExecute = $false
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.CreateNoWindow = $true
    # .NET writes the console input encoding's preamble (a UTF-8 BOM under code
    # page 65001) to a child's stdin: use a preamble-free encoding meanwhile.
    $saved = [Console]::InputEncoding
    $changed = $false
    if ($saved.GetPreamble().Length -gt 0) {
        [Console]::InputEncoding = New-Object System.Text.UTF8Encoding($false)
        $changed = $true
    }
    try {
        $process = [System.Diagnostics.Process]::Start($info)
    }
    finally {
        if ($changed) {
            [Console]::InputEncoding = $saved
        }
    }
    $bytes = [System.Text.Encoding]::ASCII.GetBytes($AgentLine + "`n" + $RequestLine + "`n")
    $process.StandardInput.BaseStream.Write($bytes, 0, $bytes.Length)
    $process.StandardInput.BaseStream.Flush()
    $process.StandardInput.Close()
    return $process
}

function Save-Answer {
    param($Process, [string]$Path)
    # Bounded in bytes (every read returns at least one byte or ends) and in time.
    $started = [DateTime]::UtcNow
    $file = [System.IO.File]::Create($Path)
    try {
        $stream = $Process.StandardOutput.BaseStream
        $buffer = New-Object byte[] 65536
        $total = 0
        while ($total -le $MaxAnswerBytes) {
            $n = $stream.Read($buffer, 0, $buffer.Length)
            if ($n -le 0) {
                break
            }
            $file.Write($buffer, 0, $n)
            $total += $n
            if (([DateTime]::UtcNow - $started).TotalSeconds -gt $MaxSeconds) {
                break
            }
        }
    }
    finally {
        $file.Close()
    }
    if (-not $Process.WaitForExit(30000)) {
        $Process.Kill()
        return 'the agent did not finish in time'
    }
    if ($total -gt $MaxAnswerBytes) {
        return 'the answer is larger than 16 MB'
    }
    if ($Process.ExitCode -ne 0) {
        return ('the agent failed (exit code ' + $Process.ExitCode + ')')
    }
    return ''
}

Write-Line ('fleetcheck: 正在读取本机设置（只读，不做任何更改）… / reading this PC''s settings (read only, nothing is changed)...')
$folder = Get-TargetFolder $OutDir
if (-not (Test-Path -LiteralPath $folder -PathType Container)) {
    Write-Line ('fleetcheck: 找不到输出文件夹 / output folder not found: ' + $folder)
    exit 2
}
$stamp = [DateTime]::UtcNow.ToString('yyyyMMdd''T''HHmmss''Z''', [System.Globalization.CultureInfo]::InvariantCulture)
$target = Join-Path $folder ($env:COMPUTERNAME + '-' + $stamp + '.json')
$partial = $target + '.partial'
try {
    $process = Start-Agent
    $problem = Save-Answer $process $partial
}
catch {
    $problem = $_.Exception.Message
}
if ($problem.Length -gt 0) {
    if (Test-Path -LiteralPath $partial) {
        Remove-Item -LiteralPath $partial -Force
    }
    Write-Line ('fleetcheck: 采集失败 / collection failed: ' + $problem)
    exit 1
}
[System.IO.File]::Move($partial, $target)
Write-Line ('fleetcheck: 完成，请把此文件交给管理员 / done; hand this file to the administrator: ' + $target)
exit 0
