# fleetcheck bootstrap: fixed, identical for every host, passed as -EncodedCommand.
# Reads two base64 lines from stdin: the agent script, then the JSON request.
# Data never becomes code: the request is handed to the agent as a string.
$ErrorActionPreference = 'Stop'
$lines = @($input | ForEach-Object { [string]$_ } | Where-Object { $_.Trim().Length -gt 0 })
if ($lines.Count -lt 2) {
    [Console]::Error.WriteLine('fleetcheck bootstrap: expected 2 base64 lines on stdin, got ' + $lines.Count)
    exit 2
}
$utf8 = New-Object System.Text.UTF8Encoding($false)
$agent = $utf8.GetString([Convert]::FromBase64String($lines[0].Trim()))
$request = $utf8.GetString([Convert]::FromBase64String($lines[1].Trim()))
& ([ScriptBlock]::Create($agent)) $request
exit $LASTEXITCODE
