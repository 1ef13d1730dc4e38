# fleetcheck agent: answers one ProbeRequest (fleetcheck/agent/contract.py) with
# one ProbeResponse JSON document on stdout.
#
# Runs on PowerShell 2.0 / .NET 3.5 (Windows 7 SP1) and later. It is static:
# the request arrives as a JSON string argument and is only ever read as data;
# nothing from it becomes script text. The agent is dumb on purpose: it reads
# and writes primitives, Python decides what they mean.
#
# Output rules: the only bytes on stdout are the JSON document, written as raw
# ASCII bytes (every character outside 0x20..0x7E is escaped as \uXXXX), so
# neither the shell code page nor a console BOM can damage it. Fatal errors
# (unreadable request, unsupported schema_version) go to stderr with exit 2.
#
# Kept ASCII-only: PowerShell 2.0 reads BOM-less scripts as ANSI when run by hand.
param($RequestJson)

$AgentVersion = '1'
$SchemaVersion = 1
# Below HKEY_USERS\<SID>: where Windows keeps the user's known folders.
$UserShellFoldersPath = 'Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders'
# Variables that are the same for every account, so the agent's own value is
# the user's too; any other %VAR% in a user's folder path cannot be resolved here.
$MachineWideVariables = @('SystemDrive', 'SystemRoot', 'windir', 'ProgramData', 'ALLUSERSPROFILE', 'PUBLIC')
# PowerShell 2.0 stops at call depth 100; registry trees deeper than this are
# reported as truncated (and never deleted, because the backup would be partial).
$MaxTreeDepth = 20
# Cap for the backups of files about to be overwritten or removed, summed over
# one request (every backup of a request travels in its one answer). A backup
# goes out as base64 (4/3 of its size): 8 MiB become 11,184,812 bytes, which
# leaves 5.3 MiB of the controller's 16 MiB output cap (MAX_OUTPUT_BYTES in
# fleetcheck/transport/session.py) for the rest of the answer. In memory the
# backup is held as its bytes and once as a base64 string (UTF-16: 2 bytes a
# character), about 30 MB, well inside Windows 7's MaxMemoryPerShellMB of
# 150 MB: the answer itself is streamed to stdout in small pieces, never built
# as one string (see Write-Response). A file too large to back up is refused
# before anything is changed.
$MaxBackupBytes = 8388608
# The JSON writer hands its text to stdout in pieces of about this many characters.
$JsonChunkChars = 65536
# Where Add-JsonValue flushes to while the response is written ($null: build in memory).
$JsonSink = @{ Stream = $null }

# ============================================================================ JSON writer
# Our own writer, so the output is exactly under our control: ordered keys,
# ASCII only, integers as integers. Objects are OrderedDictionary, arrays are
# ArrayList (or any IEnumerable), strings, bools, integers and $null.

function New-JsonObject {
    return (New-Object System.Collections.Specialized.OrderedDictionary)
}

function New-JsonList {
    # The comma stops PowerShell from unrolling an empty list into $null.
    return ,(New-Object System.Collections.ArrayList)
}

function Send-JsonText {
    # Streaming only: what the builder holds goes to stdout as ASCII bytes.
    param([System.Text.StringBuilder]$Builder)
    if ($null -eq $JsonSink.Stream -or $Builder.Length -eq 0) {
        return
    }
    $bytes = [System.Text.Encoding]::ASCII.GetBytes($Builder.ToString())
    $JsonSink.Stream.Write($bytes, 0, $bytes.Length)
    [void]$Builder.Remove(0, $Builder.Length)
}

function Send-LongAscii {
    # A long plain-ASCII string (a base64 backup) goes to stdout piece by
    # piece, without ever being copied into the builder.
    param([System.Text.StringBuilder]$Builder, [string]$Text)
    Send-JsonText $Builder
    $ascii = [System.Text.Encoding]::ASCII
    $buffer = New-Object byte[] $JsonChunkChars
    $offset = 0
    while ($offset -lt $Text.Length) {
        $count = [Math]::Min($JsonChunkChars, $Text.Length - $offset)
        $n = $ascii.GetBytes($Text, $offset, $count, $buffer, 0)
        $JsonSink.Stream.Write($buffer, 0, $n)
        $offset += $count
    }
}

function Add-JsonString {
    param([System.Text.StringBuilder]$Builder, [string]$Text)
    [void]$Builder.Append('"')
    # Fast path for the common case (base64, ASCII names). -cnotmatch: a
    # case-insensitive class would let e.g. KELVIN SIGN through as 'k'.
    if ($Text -cnotmatch '[^\x20\x21\x23-\x5B\x5D-\x7E]') {
        if ($null -ne $JsonSink.Stream -and $Text.Length -gt $JsonChunkChars) {
            Send-LongAscii $Builder $Text
        }
        else {
            [void]$Builder.Append($Text)
        }
    }
    else {
        foreach ($ch in $Text.ToCharArray()) {
            $code = [int]$ch
            if ($code -eq 34) {
                [void]$Builder.Append('\"')
            }
            elseif ($code -eq 92) {
                [void]$Builder.Append('\\')
            }
            elseif ($code -lt 32 -or $code -gt 126) {
                # Surrogate pairs come out as two \uXXXX escapes, which is valid JSON.
                [void]$Builder.Append('\u')
                [void]$Builder.Append($code.ToString('x4'))
            }
            else {
                [void]$Builder.Append($ch)
            }
        }
    }
    [void]$Builder.Append('"')
}

function Add-JsonValue {
    param([System.Text.StringBuilder]$Builder, $Value)
    $invariant = [System.Globalization.CultureInfo]::InvariantCulture
    if ($null -eq $Value) {
        [void]$Builder.Append('null')
    }
    elseif ($Value -is [string]) {
        Add-JsonString $Builder $Value
    }
    elseif ($Value -is [char]) {
        Add-JsonString $Builder ([string]$Value)
    }
    elseif ($Value -is [bool]) {
        if ($Value) {
            [void]$Builder.Append('true')
        }
        else {
            [void]$Builder.Append('false')
        }
    }
    elseif ($Value -is [int] -or $Value -is [long] -or $Value -is [uint32] -or $Value -is [uint64] -or $Value -is [int16] -or $Value -is [uint16] -or $Value -is [byte] -or $Value -is [sbyte] -or $Value -is [decimal]) {
        [void]$Builder.Append([System.Convert]::ToString($Value, $invariant))
    }
    elseif ($Value -is [double] -or $Value -is [single]) {
        if ([double]::IsNaN($Value) -or [double]::IsInfinity($Value)) {
            [void]$Builder.Append('null')
        }
        else {
            [void]$Builder.Append(([double]$Value).ToString('R', $invariant))
        }
    }
    elseif ($Value -is [System.Collections.IDictionary]) {
        [void]$Builder.Append('{')
        $first = $true
        foreach ($entry in $Value.GetEnumerator()) {
            if (-not $first) {
                [void]$Builder.Append(',')
            }
            $first = $false
            Add-JsonString $Builder ([string]$entry.Key)
            [void]$Builder.Append(':')
            Add-JsonValue $Builder $entry.Value
            if ($Builder.Length -gt $JsonChunkChars) {
                Send-JsonText $Builder
            }
        }
        [void]$Builder.Append('}')
    }
    elseif ($Value -is [System.Collections.IEnumerable]) {
        [void]$Builder.Append('[')
        $first = $true
        foreach ($item in $Value) {
            if (-not $first) {
                [void]$Builder.Append(',')
            }
            $first = $false
            Add-JsonValue $Builder $item
            if ($Builder.Length -gt $JsonChunkChars) {
                Send-JsonText $Builder
            }
        }
        [void]$Builder.Append(']')
    }
    else {
        Add-JsonString $Builder ([System.Convert]::ToString($Value, $invariant))
    }
}

function ConvertTo-JsonText {
    param($Value)
    $builder = New-Object System.Text.StringBuilder
    Add-JsonValue $builder $Value
    return $builder.ToString()
}

# ============================================================================ request access
# The request is read with .NET 3.5's JavaScriptSerializer (objects become
# Dictionary[string,object], arrays object[]). Fields are read through
# Get-Field so a missing key is a default, never an exception.

function Get-Field {
    param($Object, [string]$Name, $Default = $null)
    $present = $false
    if ($Object -is [System.Collections.Specialized.OrderedDictionary]) {
        $present = $Object.Contains($Name)
    }
    elseif ($Object -is [System.Collections.IDictionary]) {
        # JavaScriptSerializer's Dictionary[string,object]: IDictionary.Contains
        # is an explicit interface member PowerShell 2.0 cannot call.
        $present = $Object.ContainsKey($Name)
    }
    if ($present) {
        $value = $Object[$Name]
        if ($null -ne $value) {
            return ,$value
        }
    }
    return ,$Default
}

function Get-ListField {
    param($Object, [string]$Name)
    $value = Get-Field $Object $Name
    if ($null -eq $value) {
        return ,@()
    }
    return ,@($value)
}

function Read-Request {
    param([string]$Json)
    try {
        Add-Type -AssemblyName System.Web.Extensions -ErrorAction Stop
    }
    catch {
        # Some PowerShell 2.0 hosts do not resolve the partial name.
        [void][System.Reflection.Assembly]::Load('System.Web.Extensions, Version=3.5.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35')
    }
    $serializer = New-Object System.Web.Script.Serialization.JavaScriptSerializer
    $serializer.MaxJsonLength = [int]::MaxValue
    $parsed = $serializer.DeserializeObject($Json)
    if (-not ($parsed -is [System.Collections.IDictionary])) {
        throw 'the request is not a JSON object'
    }
    return $parsed
}

function Stop-Agent {
    # Fatal: nothing useful can be answered. stderr + exit 2, as the wire format says.
    param([string]$Message)
    [Console]::Error.WriteLine('fleetcheck agent: ' + $Message)
    $global:LASTEXITCODE = 2
    exit 2
}

# ============================================================================ validation
# Request values that end up in a registry path, a WQL filter or a file name
# are checked here first. \z, not $: in .NET '$' also matches before a final newline.

function Assert-Sid {
    param([string]$Sid)
    if ($Sid -cnotmatch '^S-1-[0-9]+(-[0-9]+)+\z') {
        throw ('not a SID: ' + $Sid)
    }
}

function Assert-VendorId {
    param([string]$VendorId)
    if ($VendorId -cnotmatch '^[0-9A-Fa-f]{4}\z') {
        throw 'vendor_id must be exactly 4 hex digits'
    }
}

function Assert-Thumbprint {
    param([string]$Thumbprint)
    if ($Thumbprint -cnotmatch '^[0-9A-Fa-f]{40}\z') {
        throw 'thumbprint must be exactly 40 hex digits'
    }
}

function Test-UserSid {
    # Real user hives: local/domain accounts (S-1-5-21-*) and Azure AD (S-1-12-*).
    param([string]$Sid)
    return (($Sid -like 'S-1-5-21-*' -or $Sid -like 'S-1-12-*') -and $Sid -notlike '*_Classes')
}

function Expand-HostPath {
    # %VARS% expanded (unless $Expand is false: a REG_SZ value is literal, only
    # REG_EXPAND_SZ is expanded); surrounding quotes stripped (a quoted path may
    # be followed by arguments, e.g. "C:\x.exe" /s: keep the quoted part).
    param([string]$Path, [bool]$Expand = $true)
    $text = $Path.Trim()
    if ($Expand) {
        $text = [Environment]::ExpandEnvironmentVariables($Path).Trim()
    }
    if ($text.StartsWith('"')) {
        $end = $text.IndexOf('"', 1)
        if ($end -gt 0) {
            $text = $text.Substring(1, $end - 1)
        }
        else {
            $text = $text.Substring(1)
        }
    }
    return $text
}

function ConvertTo-Wow64Path {
    # A registered path as a 32-bit process on 64-bit Windows resolves it (a
    # 32-bit COM server is loaded by 32-bit IE): %ProgramFiles% and
    # %CommonProgramFiles% are the (x86) folders; the File System Redirector
    # maps %windir%\System32 to SysWOW64 (except its exempt subfolders) and
    # %windir%\Sysnative to System32. 32-bit Windows: Expand-HostPath only.
    param([string]$Path, [bool]$Expand = $true)
    $pf86 = [Environment]::GetEnvironmentVariable('ProgramFiles(x86)')
    if ([string]::IsNullOrEmpty($pf86)) {
        return (Expand-HostPath $Path $Expand)
    }
    $text = $Path
    if ($Expand) {
        $text = $text -replace '(?i)%ProgramFiles%', '%ProgramFiles(x86)%'
        $text = $text -replace '(?i)%CommonProgramFiles%', '%CommonProgramFiles(x86)%'
    }
    $text = Expand-HostPath $text $Expand
    $windir = [Environment]::GetEnvironmentVariable('SystemRoot').TrimEnd('\')
    $system32 = $windir + '\System32\'
    $sysnative = $windir + '\Sysnative\'
    if ($text.StartsWith($sysnative, [StringComparison]::OrdinalIgnoreCase)) {
        return ($system32 + $text.Substring($sysnative.Length))
    }
    if (-not $text.StartsWith($system32, [StringComparison]::OrdinalIgnoreCase)) {
        return $text
    }
    $rest = $text.Substring($system32.Length)
    foreach ($exempt in @('catroot\', 'catroot2\', 'drivers\etc\', 'logfiles\', 'spool\')) {
        if ($rest.StartsWith($exempt, [StringComparison]::OrdinalIgnoreCase)) {
            return $text
        }
    }
    return ($windir + '\SysWOW64\' + $rest)
}

# ============================================================================ registry reading

function Get-RegRoot {
    param([string]$Hive)
    if ($Hive -eq 'HKLM') {
        return [Microsoft.Win32.Registry]::LocalMachine
    }
    if ($Hive -eq 'HKU') {
        return [Microsoft.Win32.Registry]::Users
    }
    throw ('unknown hive: ' + $Hive)
}

function Get-RegSubPath {
    # The path below the hive root; for HKU with a SID, below that user's hive.
    param([string]$Hive, $Sid, [string]$Path)
    $clean = $Path.Trim('\')
    if ($Hive -eq 'HKU' -and $null -ne $Sid -and [string]$Sid -ne '') {
        Assert-Sid $Sid
        if ($clean -eq '') {
            return [string]$Sid
        }
        return ([string]$Sid + '\' + $clean)
    }
    return $clean
}

function Open-RegKey {
    # Read-only. $null when the key does not exist.
    param([string]$Hive, $Sid, [string]$Path)
    $root = Get-RegRoot $Hive
    return $root.OpenSubKey((Get-RegSubPath $Hive $Sid $Path))
}

function Get-RegTypeName {
    # RegistryValueKind numbers; 0 is REG_NONE (and what .NET 3.5 reports for
    # types it does not know, whose data it hands back as bytes).
    param([int]$Kind)
    if ($Kind -eq 1) {
        return 'SZ'
    }
    if ($Kind -eq 2) {
        return 'EXPAND_SZ'
    }
    if ($Kind -eq 3) {
        return 'BINARY'
    }
    if ($Kind -eq 4) {
        return 'DWORD'
    }
    if ($Kind -eq 7) {
        return 'MULTI_SZ'
    }
    if ($Kind -eq 11) {
        return 'QWORD'
    }
    return 'NONE'
}

function Format-RegValue {
    # .NET registry data -> {"t": TYPE, "v": VALUE} as the contract encodes it.
    param([string]$Type, $Data)
    $out = New-JsonObject
    $out['t'] = $Type
    if ($Type -eq 'SZ' -or $Type -eq 'EXPAND_SZ') {
        $out['v'] = [string]$Data
    }
    elseif ($Type -eq 'MULTI_SZ') {
        $list = New-JsonList
        if ($null -ne $Data) {
            foreach ($line in $Data) {
                [void]$list.Add([string]$line)
            }
        }
        $out['v'] = $list
    }
    elseif ($Type -eq 'DWORD') {
        # .NET hands DWORDs back as Int32: reinterpret the bits as unsigned.
        $out['v'] = [System.BitConverter]::ToUInt32([System.BitConverter]::GetBytes([int32]$Data), 0)
    }
    elseif ($Type -eq 'QWORD') {
        $out['v'] = [System.BitConverter]::ToUInt64([System.BitConverter]::GetBytes([int64]$Data), 0)
    }
    else {
        # BINARY and NONE: base64 of the bytes.
        if ($Data -is [byte[]]) {
            $out['v'] = [System.Convert]::ToBase64String($Data)
        }
        elseif ($null -eq $Data) {
            $out['v'] = ''
        }
        else {
            $out['v'] = [System.Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes([string]$Data))
        }
    }
    return $out
}

function Read-RegValue {
    param([Microsoft.Win32.RegistryKey]$Key, [string]$Name)
    $kind = [int]$Key.GetValueKind($Name)
    $data = $Key.GetValue($Name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
    return (Format-RegValue (Get-RegTypeName $kind) $data)
}

function Test-RegValue {
    # Value names are case-insensitive, as is -contains.
    param([Microsoft.Win32.RegistryKey]$Key, [string]$Name)
    return (@($Key.GetValueNames()) -contains $Name)
}

function Read-RegKey {
    # One pass over the tree: values, and subkeys down to $Depth (0 = values only).
    # Names are sorted so two reads of the same tree serialize identically.
    param([Microsoft.Win32.RegistryKey]$Key, [int]$Depth)
    $node = New-JsonObject
    $values = New-JsonObject
    foreach ($name in @($Key.GetValueNames() | Sort-Object)) {
        $values[[string]$name] = Read-RegValue $Key $name
    }
    $subkeys = New-JsonObject
    $truncated = $false
    $names = @($Key.GetSubKeyNames() | Sort-Object)
    if ($names.Length -gt 0) {
        if ($Depth -le 0) {
            $truncated = $true
        }
        else {
            foreach ($subName in $names) {
                # An unreadable subkey throws (SecurityException): a partial
                # tree must never pass for a complete one.
                $child = $Key.OpenSubKey($subName)
                if ($null -ne $child) {
                    try {
                        $subkeys[[string]$subName] = Read-RegKey $child ($Depth - 1)
                    }
                    finally {
                        $child.Close()
                    }
                }
            }
        }
    }
    $node['values'] = $values
    $node['subkeys'] = $subkeys
    $node['truncated'] = (Test-TreeTruncated $subkeys $truncated)
    return $node
}

function Test-TreeTruncated {
    # A tree is truncated when this key or any subkey below it is.
    param($Subkeys, [bool]$Here)
    if ($Here) {
        return $true
    }
    foreach ($entry in $Subkeys.GetEnumerator()) {
        if ($entry.Value['truncated']) {
            return $true
        }
    }
    return $false
}

# ============================================================================ files

function Get-FileFacts {
    # FileInfo of the contract. Content is read with FileShare ReadWrite+Delete
    # so a file another process holds open can still be read.
    param([string]$Path, [bool]$WithContent, [long]$MaxBytes)
    $info = New-JsonObject
    $info['path'] = $Path
    if (-not [System.IO.File]::Exists($Path)) {
        $info['exists'] = $false
        return $info
    }
    $file = New-Object System.IO.FileInfo($Path)
    $info['exists'] = $true
    $info['size'] = [long]$file.Length
    $info['version'] = $null
    $info['product_version'] = $null
    try {
        $versionInfo = [System.Diagnostics.FileVersionInfo]::GetVersionInfo($Path)
        $info['version'] = $versionInfo.FileVersion
        $info['product_version'] = $versionInfo.ProductVersion
    }
    catch {
        # No version resource readable: version stays null, the file still exists.
        $info['version'] = $null
    }
    if ($WithContent) {
        $length = [long]$file.Length
        $take = [long][Math]::Min($length, [Math]::Max([long]0, $MaxBytes))
        $buffer = New-Object byte[] ([int]$take)
        $share = [System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete
        $stream = New-Object System.IO.FileStream($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $share)
        try {
            $read = 0
            while ($read -lt $take) {
                $n = $stream.Read($buffer, $read, [int]($take - $read))
                if ($n -le 0) {
                    break
                }
                $read += $n
            }
        }
        finally {
            $stream.Close()
        }
        if ($read -lt $take) {
            $short = New-Object byte[] $read
            [System.Array]::Copy($buffer, $short, $read)
            $buffer = $short
        }
        $info['content'] = [System.Convert]::ToBase64String($buffer)
        $info['content_truncated'] = ($length -gt $take)
    }
    return $info
}

# ============================================================================ host facts
# Kept to three WMI queries (OS, ComputerSystem, Process), each ~50-200 ms.

function Get-RegString {
    # A string value of an HKLM key, or $null; for facts only, never throws.
    param([string]$Path, [string]$Name)
    try {
        $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($Path)
        if ($null -eq $key) {
            return $null
        }
        try {
            $value = $key.GetValue($Name)
            if ($null -eq $value) {
                return $null
            }
            return [string]$value
        }
        finally {
            $key.Close()
        }
    }
    catch {
        return $null
    }
}

function Test-HklmKey {
    param([string]$Path)
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($Path)
    if ($null -eq $key) {
        return $false
    }
    $key.Close()
    return $true
}

function Get-ArchName {
    # Prefer the environment (never localized; W6432 is set for a 32-bit
    # process on a 64-bit OS). OSArchitecture is localized (Chinese "64-bit") and
    # missing on some Windows 7 32-bit editions, so it only decides ARM.
    param($OsArchitecture)
    if ($null -ne $OsArchitecture -and ([string]$OsArchitecture) -match 'ARM') {
        return 'arm64'
    }
    $machine = $env:PROCESSOR_ARCHITEW6432
    if ([string]::IsNullOrEmpty($machine)) {
        $machine = $env:PROCESSOR_ARCHITECTURE
    }
    if ($machine -eq 'AMD64' -or $machine -eq 'IA64') {
        return 'x64'
    }
    if ($machine -eq 'ARM64') {
        return 'arm64'
    }
    if ($null -ne $OsArchitecture -and ([string]$OsArchitecture) -match '64') {
        return 'x64'
    }
    return 'x86'
}

function Get-CodePage {
    # The registry gives the system's ACP/OEMCP; the console's code page under
    # WinRM is whatever the shell was opened with (65001), so it is only a fallback.
    param([string]$Name, [int]$Fallback)
    $text = Get-RegString 'SYSTEM\CurrentControlSet\Control\Nls\CodePage' $Name
    $number = 0
    if ($null -ne $text -and [int]::TryParse($text, [ref]$number) -and $number -gt 0) {
        return $number
    }
    return $Fallback
}

function Test-PendingReboot {
    if (Test-HklmKey 'SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') {
        return $true
    }
    if (Test-HklmKey 'SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') {
        return $true
    }
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Control\Session Manager')
    if ($null -ne $key) {
        try {
            $renames = $key.GetValue('PendingFileRenameOperations')
            if ($null -ne $renames) {
                foreach ($line in $renames) {
                    if (-not [string]::IsNullOrEmpty([string]$line)) {
                        return $true
                    }
                }
            }
        }
        finally {
            $key.Close()
        }
    }
    return $false
}

function Get-OsFacts {
    # Every required OsFacts field gets a value even when WMI is down (the
    # failure is reported in errors[]), so the response always validates.
    param($Os, $ComputerSystem)
    $facts = New-JsonObject
    $osVersion = [Environment]::OSVersion.Version
    $ntKey = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    $facts['version'] = $osVersion.Major.ToString() + '.' + $osVersion.Minor.ToString() + '.' + $osVersion.Build.ToString()
    $facts['build'] = [int]$osVersion.Build
    $caption = Get-RegString $ntKey 'ProductName'
    $osArchitecture = $null
    if ($null -ne $Os) {
        $facts['version'] = [string]$Os.Version
        $facts['build'] = [int]$Os.BuildNumber
        $caption = [string]$Os.Caption
        try {
            $osArchitecture = $Os.OSArchitecture
        }
        catch {
            # Absent on some Windows 7 32-bit editions.
            $osArchitecture = $null
        }
    }
    if ($null -eq $caption) {
        $caption = 'Windows'
    }
    $facts['caption'] = $caption.Trim()
    $facts['edition'] = Get-RegString $ntKey 'EditionID'
    $facts['arch'] = Get-ArchName $osArchitecture
    $facts['ps_version'] = $PSVersionTable.PSVersion.ToString()
    $clr = [Environment]::Version.ToString()
    if ($null -ne $PSVersionTable.CLRVersion) {
        $clr = $PSVersionTable.CLRVersion.ToString()
    }
    $facts['clr_version'] = $clr
    $facts['acp'] = Get-CodePage 'ACP' ([System.Text.Encoding]::Default.CodePage)
    $facts['oem_cp'] = Get-CodePage 'OEMCP' ([Console]::OutputEncoding.CodePage)
    $facts['hostname'] = [Environment]::MachineName
    $facts['domain'] = $null
    if ($null -ne $ComputerSystem -and $ComputerSystem.PartOfDomain) {
        $facts['domain'] = [string]$ComputerSystem.Domain
    }
    $facts['pending_reboot'] = $false
    try {
        $facts['pending_reboot'] = Test-PendingReboot
    }
    catch {
        # An unreadable servicing key is not a reason to lose the whole response.
        $facts['pending_reboot'] = $false
    }
    $ie = Get-RegString 'SOFTWARE\Microsoft\Internet Explorer' 'svcVersion'
    if ([string]::IsNullOrEmpty($ie)) {
        $ie = Get-RegString 'SOFTWARE\Microsoft\Internet Explorer' 'Version'
    }
    $facts['ie_version'] = $ie
    $edgeClient = 'Microsoft\EdgeUpdate\Clients\{56EB18F8-B008-4CBD-B6D2-8C97FE7E9062}'
    $edge = Get-RegString ('SOFTWARE\WOW6432Node\' + $edgeClient) 'pv'
    if ([string]::IsNullOrEmpty($edge)) {
        # 32-bit Windows has no WOW6432Node.
        $edge = Get-RegString ('SOFTWARE\' + $edgeClient) 'pv'
    }
    $facts['edge_version'] = $edge
    return $facts
}

function Get-LoadedUserSids {
    $sids = New-JsonList
    foreach ($name in [Microsoft.Win32.Registry]::Users.GetSubKeyNames()) {
        if (Test-UserSid $name) {
            [void]$sids.Add([string]$name)
        }
    }
    return ,$sids
}

function Get-SidOfAccount {
    # DOMAIN\name -> SID string, or $null when it does not resolve.
    param($Account)
    if ([string]::IsNullOrEmpty([string]$Account)) {
        return $null
    }
    try {
        $nt = New-Object System.Security.Principal.NTAccount([string]$Account)
        return $nt.Translate([System.Security.Principal.SecurityIdentifier]).Value
    }
    catch {
        return $null
    }
}

function Set-PathVariable {
    # %Name% (any case) -> Value, literally (no regex meaning in Value).
    param([string]$Text, [string]$Name, [string]$Value)
    $pattern = '%' + [regex]::Escape($Name) + '%'
    return [regex]::Replace($Text, $pattern, $Value.Replace('$', '$$'), [System.Text.RegularExpressions.RegexOptions]::IgnoreCase)
}

function Get-UserAppDataRaw {
    # User Shell Folders\AppData as stored (REG_EXPAND_SZ), not expanded: the
    # agent's environment is the WinRM account's, not the user's.
    param([string]$Sid)
    $key = [Microsoft.Win32.Registry]::Users.OpenSubKey($Sid + '\' + $UserShellFoldersPath)
    if ($null -eq $key) {
        return $null
    }
    try {
        $value = $key.GetValue('AppData', $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
        if ($value -is [string]) {
            return [string]$value
        }
        return $null
    }
    finally {
        $key.Close()
    }
}

function Resolve-UserAppData {
    # The folder Windows uses as this user's Roaming AppData (FOLDERID_RoamingAppData):
    # the User Shell Folders value with the user's own %USERPROFILE% and %USERNAME%,
    # or the Known Folder default when there is no value. $null when some
    # variable cannot be resolved for this user.
    param($Raw, $ProfilePath, $Account)
    if ([string]::IsNullOrEmpty([string]$ProfilePath)) {
        return $null
    }
    if ($null -eq $Raw -or ([string]$Raw).Trim() -eq '') {
        return ([string]$ProfilePath + '\AppData\Roaming')
    }
    $text = Set-PathVariable ([string]$Raw) 'USERPROFILE' ([string]$ProfilePath)
    if (-not [string]::IsNullOrEmpty([string]$Account)) {
        $accountText = [string]$Account
        $text = Set-PathVariable $text 'USERNAME' $accountText.Substring($accountText.LastIndexOf('\') + 1)
    }
    foreach ($variable in $MachineWideVariables) {
        $machineValue = [Environment]::GetEnvironmentVariable($variable)
        if (-not [string]::IsNullOrEmpty($machineValue)) {
            $text = Set-PathVariable $text $variable $machineValue
        }
    }
    if ($text -match '%[^%\\]+%') {
        return $null
    }
    return $text.Trim()
}

function Get-ProfileFacts {
    # ProfileList is the one place that lists every user profile with its path.
    param($LoadedSids, $ConsoleSid, $InteractiveSids)
    $profiles = New-JsonList
    $listPath = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList'
    $list = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($listPath)
    if ($null -eq $list) {
        return ,$profiles
    }
    try {
        foreach ($sid in @($list.GetSubKeyNames() | Sort-Object)) {
            if (-not (Test-UserSid $sid)) {
                continue
            }
            $entry = New-JsonObject
            $entry['sid'] = [string]$sid
            $entry['user'] = $null
            try {
                $identifier = New-Object System.Security.Principal.SecurityIdentifier([string]$sid)
                $entry['user'] = $identifier.Translate([System.Security.Principal.NTAccount]).Value
            }
            catch {
                # Deleted or unreachable domain account: the SID stays, the name is unknown.
                $entry['user'] = $null
            }
            $entry['path'] = $null
            $profileKey = $list.OpenSubKey($sid)
            if ($null -ne $profileKey) {
                try {
                    $raw = $profileKey.GetValue('ProfileImagePath')
                    if ($null -ne $raw) {
                        $entry['path'] = [Environment]::ExpandEnvironmentVariables([string]$raw)
                    }
                }
                finally {
                    $profileKey.Close()
                }
            }
            $entry['loaded'] = ($LoadedSids -contains $sid)
            $entry['appdata_raw'] = $null
            $entry['appdata'] = $null
            if ($entry['loaded']) {
                $entry['appdata_raw'] = Get-UserAppDataRaw ([string]$sid)
                $entry['appdata'] = Resolve-UserAppData $entry['appdata_raw'] $entry['path'] $entry['user']
            }
            $entry['console'] = ($null -ne $ConsoleSid -and $ConsoleSid -eq $sid)
            $entry['interactive'] = ($InteractiveSids -contains $sid)
            [void]$profiles.Add($entry)
        }
    }
    finally {
        $list.Close()
    }
    return ,$profiles
}

function Get-ProcessFacts {
    # One Win32_Process query serves both the process list and the explorer
    # owners (GetOwnerSid is a WMI method call: only for explorer.exe).
    param([bool]$WantProcesses, $State)
    $filter = $null
    if (-not $WantProcesses) {
        $filter = "Name = 'explorer.exe'"
    }
    if ($null -eq $filter) {
        $all = @(Get-WmiObject -Class Win32_Process -ErrorAction Stop)
    }
    else {
        $all = @(Get-WmiObject -Class Win32_Process -Filter $filter -ErrorAction Stop)
    }
    foreach ($proc in $all) {
        $name = [string]$proc.Name
        $sid = $null
        if ($name -eq 'explorer.exe') {
            try {
                $owner = $proc.GetOwnerSid()
                if ($null -ne $owner -and $owner.ReturnValue -eq 0) {
                    $sid = [string]$owner.Sid
                    if (-not ($State.InteractiveSids -contains $sid)) {
                        [void]$State.InteractiveSids.Add($sid)
                    }
                }
            }
            catch {
                # The process ended between the query and the call.
                $sid = $null
            }
        }
        if ($WantProcesses) {
            $item = New-JsonObject
            $item['name'] = $name
            $item['pid'] = [int]$proc.ProcessId
            $item['sid'] = $sid
            [void]$State.Processes.Add($item)
        }
    }
}

# ============================================================================ read queries
# Each answer: {"id", "sid", "status": ok|absent|error, "error"} plus the
# fields of its kind only.

function New-Answer {
    param($Query, $Sid)
    $answer = New-JsonObject
    $answer['id'] = [string](Get-Field $Query 'id' '')
    $answer['sid'] = $Sid
    $answer['status'] = 'error'
    $answer['error'] = $null
    return $answer
}

function Get-QuerySids {
    # $null = one machine-wide answer; otherwise one answer per loaded user hive.
    param($Query, $State)
    if ([bool](Get-Field $Query 'per_user' $false)) {
        return ,$State.LoadedSids
    }
    return ,@($null)
}

function Invoke-RegistryQuery {
    param($Query, $Sid)
    $answer = New-Answer $Query $Sid
    $key = Open-RegKey ([string](Get-Field $Query 'hive' '')) $Sid ([string](Get-Field $Query 'path' ''))
    if ($null -eq $key) {
        $answer['status'] = 'absent'
        return $answer
    }
    try {
        $answer['key'] = Read-RegKey $key ([int](Get-Field $Query 'depth' 0))
        $followed = New-JsonObject
        $withContent = [bool](Get-Field $Query 'follow_content' $false)
        $wow64 = [bool](Get-Field $Query 'follow_wow64' $false)
        $maxBytes = [long](Get-Field $Query 'max_content_bytes' 262144)
        foreach ($valueName in (Get-ListField $Query 'follow')) {
            $name = [string]$valueName
            if (-not (Test-RegValue $key $name)) {
                continue
            }
            $data = $key.GetValue($name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
            if ($data -is [string] -and $data.Trim() -ne '') {
                # Only REG_EXPAND_SZ holds %VARS% that Windows expands; a REG_SZ is literal.
                $expand = ($key.GetValueKind($name) -eq [Microsoft.Win32.RegistryValueKind]::ExpandString)
                if ($wow64) {
                    $target = ConvertTo-Wow64Path $data $expand
                }
                else {
                    $target = Expand-HostPath $data $expand
                }
                $followed[$name] = Get-FileFacts $target $withContent $maxBytes
            }
        }
        $answer['followed'] = $followed
    }
    finally {
        $key.Close()
    }
    $answer['status'] = 'ok'
    return $answer
}

function Resolve-QueryPath {
    # {profile} at the start -> that user's profile directory, {appdata} -> the
    # user's Roaming AppData folder (refused where this session cannot read it);
    # then %VARS%.
    param([string]$Path, $Sid, $State)
    if ($Path.StartsWith('{profile}')) {
        if ($null -eq $Sid) {
            throw '{profile} needs per_user=true'
        }
        $profilePath = $State.ProfilePaths[[string]$Sid]
        if ([string]::IsNullOrEmpty($profilePath)) {
            throw ('no profile directory for ' + $Sid)
        }
        $Path = $profilePath + $Path.Substring('{profile}'.Length)
    }
    elseif ($Path.StartsWith('{appdata}')) {
        if ($null -eq $Sid) {
            throw '{appdata} needs per_user=true'
        }
        $appData = [string]$State.AppDataPaths[[string]$Sid]
        if ([string]::IsNullOrEmpty($appData)) {
            throw ('the AppData folder of ' + $Sid + ' cannot be resolved (User Shell Folders\AppData uses a variable of that user)')
        }
        if ($appData.StartsWith('\\')) {
            throw ('the AppData folder of ' + $Sid + ' is on a network share (' + $appData + '): a WinRM session cannot read it (second hop)')
        }
        $root = [System.IO.Path]::GetPathRoot($appData)
        if ([string]::IsNullOrEmpty($root) -or -not [System.IO.Directory]::Exists($root)) {
            throw ('the AppData folder of ' + $Sid + ' is on drive ' + $root + ', which this session does not have (a network drive of that user?)')
        }
        $Path = $appData + $Path.Substring('{appdata}'.Length)
    }
    return [Environment]::ExpandEnvironmentVariables($Path)
}

function Invoke-FileQuery {
    param($Query, $Sid, $State)
    $answer = New-Answer $Query $Sid
    $path = Resolve-QueryPath ([string](Get-Field $Query 'path' '')) $Sid $State
    $withContent = [bool](Get-Field $Query 'content' $false)
    $file = Get-FileFacts $path $withContent ([long](Get-Field $Query 'max_content_bytes' 262144))
    $answer['file'] = $file
    if ($file['exists']) {
        $answer['status'] = 'ok'
    }
    else {
        $answer['status'] = 'absent'
    }
    return $answer
}

function Invoke-DirQuery {
    param($Query, $Sid, $State)
    $answer = New-Answer $Query $Sid
    $path = Resolve-QueryPath ([string](Get-Field $Query 'path' '')) $Sid $State
    if (-not [System.IO.Directory]::Exists($path)) {
        $answer['status'] = 'absent'
        return $answer
    }
    $withContent = [bool](Get-Field $Query 'content' $false)
    $maxFiles = [int](Get-Field $Query 'max_files' 200)
    $maxBytes = [long](Get-Field $Query 'max_content_bytes' 65536)
    $files = New-JsonList
    foreach ($filePath in @([System.IO.Directory]::GetFiles($path) | Sort-Object)) {
        if ($files.Count -ge $maxFiles) {
            break
        }
        [void]$files.Add((Get-FileFacts ([string]$filePath) $withContent $maxBytes))
    }
    $answer['files'] = $files
    $answer['status'] = 'ok'
    return $answer
}

function Get-WmiPropertyValue {
    # A WMI property's value; $null when it is null or this Windows' class does
    # not have the property (Win32_PnPEntity.Present exists on Windows 10 and later).
    param($Object, [string]$Name)
    foreach ($property in $Object.psbase.Properties) {
        if ($property.Name -eq $Name) {
            return $property.Value
        }
    }
    return $null
}

function Invoke-PnpQuery {
    param($Query)
    $answer = New-Answer $Query $null
    $vendorId = [string](Get-Field $Query 'vendor_id' '')
    # The vendor id is data: validated before it goes into the WQL filter.
    Assert-VendorId $vendorId
    $vendorId = $vendorId.ToUpperInvariant()
    $filter = 'DeviceID LIKE ''USB\\VID_' + $vendorId + '%'''
    $devices = New-JsonList
    $prefix = 'USB\VID_' + $vendorId
    # Windows 10/11 also list devices that are not connected (ConfigManagerErrorCode
    # 45, Present false); the agent reports what Windows says, Python decides.
    foreach ($device in @(Get-WmiObject -Class Win32_PnPEntity -Filter $filter -ErrorAction Stop)) {
        $deviceId = [string]$device.DeviceID
        # '_' is a LIKE wildcard: re-check the prefix exactly.
        if ($deviceId.StartsWith($prefix, [System.StringComparison]::OrdinalIgnoreCase)) {
            $item = New-JsonObject
            $item['device_id'] = $deviceId
            $item['present'] = $null
            $item['error_code'] = $null
            $present = Get-WmiPropertyValue $device 'Present'
            if ($null -ne $present) {
                $item['present'] = [bool]$present
            }
            $code = Get-WmiPropertyValue $device 'ConfigManagerErrorCode'
            if ($null -ne $code) {
                $item['error_code'] = [long]$code
            }
            [void]$devices.Add($item)
        }
    }
    $answer['devices'] = $devices
    $answer['status'] = 'ok'
    return $answer
}

function Invoke-TcpQuery {
    # A refused or timed-out connect is an answer (connected=false), not an error.
    param($Query)
    $answer = New-Answer $Query $null
    $target = [string](Get-Field $Query 'host' '')
    $port = [int](Get-Field $Query 'port' 0)
    $timeout = [int](Get-Field $Query 'timeout_ms' 5000)
    if ($port -lt 1 -or $port -gt 65535) {
        throw 'port must be 1..65535'
    }
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    $client = New-Object System.Net.Sockets.TcpClient
    $connected = $false
    try {
        try {
            $pending = $client.BeginConnect($target, $port, $null, $null)
            if ($pending.AsyncWaitHandle.WaitOne($timeout, $false)) {
                $client.EndConnect($pending)
                $connected = $true
            }
            else {
                $answer['error'] = 'no connection within ' + $timeout + ' ms'
            }
        }
        catch {
            $answer['error'] = $_.Exception.Message
        }
    }
    finally {
        $client.Close()
    }
    $answer['connected'] = $connected
    $answer['elapsed_ms'] = [long]$watch.ElapsedMilliseconds
    $answer['status'] = 'ok'
    return $answer
}

function Invoke-Query {
    # One query, possibly one answer per user hive; each answer survives the others' failures.
    param($Query, $State)
    $kind = [string](Get-Field $Query 'kind' '')
    foreach ($sid in (Get-QuerySids $Query $State)) {
        try {
            switch ($kind) {
                'registry' {
                    $answer = Invoke-RegistryQuery $Query $sid
                }
                'file' {
                    $answer = Invoke-FileQuery $Query $sid $State
                }
                'dir' {
                    $answer = Invoke-DirQuery $Query $sid $State
                }
                'pnp' {
                    $answer = Invoke-PnpQuery $Query
                }
                'tcp' {
                    $answer = Invoke-TcpQuery $Query
                }
                default {
                    throw ('unknown query kind: ' + $kind)
                }
            }
        }
        catch {
            $answer = New-Answer $Query $sid
            $answer['error'] = $_.Exception.Message
        }
        [void]$State.Answers.Add($answer)
    }
}

# ============================================================================ write actions
# Each action captures what was there (before_*) BEFORE changing anything and
# reports changed=true only when something actually changed.

function New-ActionResult {
    param($Action)
    $result = New-JsonObject
    $result['id'] = [string](Get-Field $Action 'id' '')
    $result['status'] = 'error'
    $result['changed'] = $false
    $result['error'] = $null
    return $result
}

function Get-ActionKeyPath {
    # HKU writes always name the user: a write to "whoever" is never intended.
    param($Action)
    $hive = [string](Get-Field $Action 'hive' '')
    $sid = Get-Field $Action 'sid'
    if ($hive -eq 'HKU' -and [string]::IsNullOrEmpty([string]$sid)) {
        throw 'sid is required for HKU'
    }
    return (Get-RegSubPath $hive $sid ([string](Get-Field $Action 'path' '')))
}

function Assert-KeyPathNotEmpty {
    # Deleting or replacing a whole user hive (or HKLM) is never a fix.
    param($Action)
    if (([string](Get-Field $Action 'path' '')).Trim('\') -eq '') {
        throw 'refusing to delete or replace a hive root (empty path)'
    }
}

function ConvertFrom-RegValueJson {
    # {"t","v"} -> @{ Type; Kind (RegistryValueKind); Data (what SetValue wants) }.
    param($Value)
    $type = [string](Get-Field $Value 't' '')
    $v = Get-Field $Value 'v'
    if ($type -eq 'SZ' -or $type -eq 'EXPAND_SZ') {
        if (-not ($v -is [string])) {
            throw ($type + ' value must be a string')
        }
        $kind = [Microsoft.Win32.RegistryValueKind]::String
        if ($type -eq 'EXPAND_SZ') {
            $kind = [Microsoft.Win32.RegistryValueKind]::ExpandString
        }
        return @{ Type = $type; Kind = $kind; Data = [string]$v }
    }
    if ($type -eq 'MULTI_SZ') {
        $lines = New-Object System.Collections.ArrayList
        foreach ($line in @($v)) {
            if (-not ($line -is [string])) {
                throw 'MULTI_SZ value must be a list of strings'
            }
            [void]$lines.Add($line)
        }
        return @{ Type = $type; Kind = [Microsoft.Win32.RegistryValueKind]::MultiString; Data = [string[]]$lines.ToArray([string]) }
    }
    if ($type -eq 'DWORD' -or $type -eq 'QWORD') {
        if ($null -eq $v -or $v -is [string] -or $v -is [bool]) {
            throw ($type + ' value must be a number')
        }
        if ($type -eq 'DWORD') {
            # [uint32] throws for negatives and values above 0xFFFFFFFF.
            $data = [System.BitConverter]::ToInt32([System.BitConverter]::GetBytes([uint32]$v), 0)
            return @{ Type = $type; Kind = [Microsoft.Win32.RegistryValueKind]::DWord; Data = $data }
        }
        $data = [System.BitConverter]::ToInt64([System.BitConverter]::GetBytes([uint64]$v), 0)
        return @{ Type = $type; Kind = [Microsoft.Win32.RegistryValueKind]::QWord; Data = $data }
    }
    if ($type -eq 'BINARY' -or $type -eq 'NONE') {
        $bytes = [System.Convert]::FromBase64String([string]$v)
        $kind = [Microsoft.Win32.RegistryValueKind]::Binary
        if ($type -eq 'NONE') {
            $kind = Get-RegNoneKind
        }
        return @{ Type = $type; Kind = $kind; Data = $bytes }
    }
    throw ('unknown registry type: ' + $type)
}

function Get-RegNoneKind {
    # RegistryValueKind.None exists from .NET 4 on; .NET 3.5 cannot write
    # REG_NONE, so the bytes are written as REG_BINARY there (see README).
    try {
        return [System.Enum]::Parse([Microsoft.Win32.RegistryValueKind], 'None')
    }
    catch {
        return [Microsoft.Win32.RegistryValueKind]::Binary
    }
}

function Invoke-SetValue {
    param($Action, $Result)
    $hive = [string](Get-Field $Action 'hive' '')
    $subPath = Get-ActionKeyPath $Action
    $name = [string](Get-Field $Action 'name' '')
    $desired = ConvertFrom-RegValueJson (Get-Field $Action 'value')
    $root = Get-RegRoot $hive
    $before = $null
    $existing = $root.OpenSubKey($subPath)
    if ($null -ne $existing) {
        try {
            if (Test-RegValue $existing $name) {
                $before = Read-RegValue $existing $name
            }
        }
        finally {
            $existing.Close()
        }
    }
    $Result['before_value'] = $before
    $wanted = Format-RegValue $desired.Type $desired.Data
    if ($null -ne $before -and (ConvertTo-JsonText $before) -ceq (ConvertTo-JsonText $wanted)) {
        $Result['status'] = 'ok'
        return
    }
    $key = $root.CreateSubKey($subPath)
    try {
        $key.SetValue($name, $desired.Data, $desired.Kind)
    }
    finally {
        $key.Close()
    }
    $Result['changed'] = $true
    $Result['status'] = 'ok'
}

function Invoke-DeleteValue {
    param($Action, $Result)
    $root = Get-RegRoot ([string](Get-Field $Action 'hive' ''))
    $subPath = Get-ActionKeyPath $Action
    $name = [string](Get-Field $Action 'name' '')
    $Result['before_value'] = $null
    $key = $root.OpenSubKey($subPath, $true)
    if ($null -ne $key) {
        try {
            if (Test-RegValue $key $name) {
                $Result['before_value'] = Read-RegValue $key $name
                $key.DeleteValue($name)
                $Result['changed'] = $true
            }
        }
        finally {
            $key.Close()
        }
    }
    $Result['status'] = 'ok'
}

function Split-RegPath {
    # 'A\B\C' -> @('A\B', 'C'); the parent of a top-level name is the root ('').
    param([string]$SubPath)
    $cut = $SubPath.LastIndexOf('\')
    if ($cut -lt 0) {
        return @('', $SubPath)
    }
    return @($SubPath.Substring(0, $cut), $SubPath.Substring($cut + 1))
}

function Remove-RegTree {
    # Backs the whole tree up first; a backup that would be partial stops the delete.
    param([Microsoft.Win32.RegistryKey]$Root, [string]$SubPath)
    if ($SubPath -eq '') {
        throw 'refusing to delete a hive root'
    }
    $key = $Root.OpenSubKey($SubPath)
    if ($null -eq $key) {
        return $null
    }
    try {
        $tree = Read-RegKey $key $MaxTreeDepth
    }
    finally {
        $key.Close()
    }
    if ($tree['truncated']) {
        throw ('key tree deeper than ' + $MaxTreeDepth + ' levels: not deleted (backup would be incomplete)')
    }
    $parts = Split-RegPath $SubPath
    $parent = $Root
    if ($parts[0] -ne '') {
        $parent = $Root.OpenSubKey($parts[0], $true)
    }
    try {
        $parent.DeleteSubKeyTree($parts[1])
    }
    finally {
        if ($parts[0] -ne '') {
            $parent.Close()
        }
    }
    return $tree
}

function Invoke-DeleteKey {
    param($Action, $Result)
    $root = Get-RegRoot ([string](Get-Field $Action 'hive' ''))
    Assert-KeyPathNotEmpty $Action
    $tree = Remove-RegTree $root (Get-ActionKeyPath $Action)
    $Result['before_tree'] = $tree
    $Result['changed'] = ($null -ne $tree)
    $Result['status'] = 'ok'
}

function ConvertTo-CanonicalTree {
    # Validates the whole requested tree BEFORE anything is written, and puts
    # it in the same shape and order Read-RegKey produces, so "already there"
    # can be decided by comparing two serializations.
    param($Tree, [int]$Level)
    if ($Level -gt $MaxTreeDepth) {
        throw 'tree to restore is too deep'
    }
    $node = New-JsonObject
    $values = New-JsonObject
    $valueMap = Get-Field $Tree 'values'
    if ($null -ne $valueMap) {
        foreach ($name in @($valueMap.Keys | Sort-Object)) {
            $parsed = ConvertFrom-RegValueJson $valueMap[$name]
            $values[[string]$name] = Format-RegValue $parsed.Type $parsed.Data
        }
    }
    $subkeys = New-JsonObject
    $subMap = Get-Field $Tree 'subkeys'
    if ($null -ne $subMap) {
        foreach ($name in @($subMap.Keys | Sort-Object)) {
            if ([string]$name -eq '' -or ([string]$name).Contains('\')) {
                throw ('bad subkey name in tree: ' + $name)
            }
            $subkeys[[string]$name] = ConvertTo-CanonicalTree $subMap[$name] ($Level + 1)
        }
    }
    $node['values'] = $values
    $node['subkeys'] = $subkeys
    $node['truncated'] = $false
    return $node
}

function Write-RegTree {
    # Returns the names of REG_NONE values that had to be written as REG_BINARY.
    param([Microsoft.Win32.RegistryKey]$Root, [string]$SubPath, $Tree)
    $downgraded = New-JsonList
    $key = $Root.CreateSubKey($SubPath)
    try {
        foreach ($entry in $Tree['values'].GetEnumerator()) {
            $parsed = ConvertFrom-RegValueJson $entry.Value
            $key.SetValue([string]$entry.Key, $parsed.Data, $parsed.Kind)
            if ($parsed.Type -eq 'NONE' -and $parsed.Kind -eq [Microsoft.Win32.RegistryValueKind]::Binary) {
                [void]$downgraded.Add($SubPath + '\' + $entry.Key)
            }
        }
    }
    finally {
        $key.Close()
    }
    foreach ($entry in $Tree['subkeys'].GetEnumerator()) {
        $childPath = [string]$entry.Key
        if ($SubPath -ne '') {
            $childPath = $SubPath + '\' + $entry.Key
        }
        foreach ($name in (Write-RegTree $Root $childPath $entry.Value)) {
            [void]$downgraded.Add($name)
        }
    }
    return ,$downgraded
}

function Invoke-RestoreKey {
    # Exactly: an existing key at that path is backed up (before_tree),
    # removed, and the requested tree written in its place.
    param($Action, $Result)
    $root = Get-RegRoot ([string](Get-Field $Action 'hive' ''))
    Assert-KeyPathNotEmpty $Action
    $subPath = Get-ActionKeyPath $Action
    $wanted = ConvertTo-CanonicalTree (Get-Field $Action 'tree') 0
    $existing = $root.OpenSubKey($subPath)
    if ($null -ne $existing) {
        try {
            $current = Read-RegKey $existing $MaxTreeDepth
        }
        finally {
            $existing.Close()
        }
        $Result['before_tree'] = $current
        if ((ConvertTo-JsonText $current) -ceq (ConvertTo-JsonText $wanted)) {
            $Result['status'] = 'ok'
            return
        }
        [void](Remove-RegTree $root $subPath)
    }
    $downgraded = Write-RegTree $root $subPath $wanted
    $Result['changed'] = $true
    if ($downgraded.Count -gt 0) {
        $Result['error'] = 'restored, but .NET 3.5 cannot write REG_NONE; written as REG_BINARY: ' + [string]::Join(', ', [string[]]$downgraded.ToArray([string]))
        return
    }
    $Result['status'] = 'ok'
}

function Use-BackupBudget {
    # Takes $Length bytes of this request's backup budget, or refuses before
    # anything is changed: a backup that cannot travel back is no backup.
    param($State, [long]$Length)
    if ($Length -gt $State.BackupBytesLeft) {
        throw ('file of ' + $Length + ' bytes is too large to back up (at most ' + $MaxBackupBytes + ' bytes of backups per request, ' + $State.BackupBytesLeft + ' left): not changed')
    }
    $State.BackupBytesLeft = $State.BackupBytesLeft - $Length
}

function Invoke-WriteFile {
    param($Action, $Result, $State)
    $path = [Environment]::ExpandEnvironmentVariables([string](Get-Field $Action 'path' ''))
    if ([System.IO.File]::Exists($path)) {
        Use-BackupBudget $State ([long](New-Object System.IO.FileInfo($path)).Length)
    }
    $before = Get-FileFacts $path $true $MaxBackupBytes
    if ($before['exists'] -and $before['content_truncated']) {
        throw ('file larger than ' + $MaxBackupBytes + ' bytes: not changed (backup would be incomplete)')
    }
    $Result['before_file'] = $before
    if ([bool](Get-Field $Action 'delete' $false)) {
        if ($before['exists']) {
            [System.IO.File]::Delete($path)
            $Result['changed'] = $true
        }
        $Result['status'] = 'ok'
        return
    }
    $bytes = [System.Convert]::FromBase64String([string](Get-Field $Action 'content' ''))
    # Sizes first: a second base64 copy of a large file is made only when it may be equal.
    if ($before['exists'] -and $before['size'] -eq $bytes.Length -and $before['content'] -ceq [System.Convert]::ToBase64String($bytes)) {
        $Result['status'] = 'ok'
        return
    }
    $folder = [System.IO.Path]::GetDirectoryName($path)
    if (-not [string]::IsNullOrEmpty($folder)) {
        [void][System.IO.Directory]::CreateDirectory($folder)
    }
    [System.IO.File]::WriteAllBytes($path, $bytes)
    $Result['changed'] = $true
    $Result['status'] = 'ok'
}

function Assert-HiveLoaded {
    param([string]$Sid)
    Assert-Sid $Sid
    $hive = [Microsoft.Win32.Registry]::Users.OpenSubKey($Sid)
    if ($null -eq $hive) {
        throw ('the user hive of ' + $Sid + ' is not loaded (user not logged on)')
    }
    $hive.Close()
}

function Invoke-RemoveCert {
    # The Personal store lives in two places: the user's registry hive and the
    # user's (possibly redirected) roaming AppData folder; both are backed up
    # and removed. The AppData folder is resolved as for a {appdata} query, so
    # a store this session cannot reach (a share: second hop) is refused, not
    # silently skipped.
    param($Action, $Result, $State)
    $sid = [string](Get-Field $Action 'sid' '')
    $thumbprint = [string](Get-Field $Action 'thumbprint' '')
    Assert-Thumbprint $thumbprint
    $thumbprint = $thumbprint.ToUpperInvariant()
    Assert-HiveLoaded $sid
    $users = [Microsoft.Win32.Registry]::Users
    $keyPath = $sid + '\Software\Microsoft\SystemCertificates\My\Certificates\' + $thumbprint
    $filePath = Resolve-QueryPath ('{appdata}\Microsoft\SystemCertificates\My\Certificates\' + $thumbprint) $sid $State
    if ([System.IO.File]::Exists($filePath)) {
        Use-BackupBudget $State ([long](New-Object System.IO.FileInfo($filePath)).Length)
    }
    $Result['before_file'] = Get-FileFacts $filePath $true $MaxBackupBytes
    $tree = Remove-RegTree $users $keyPath
    $Result['before_tree'] = $tree
    $changed = ($null -ne $tree)
    if ($Result['before_file']['exists']) {
        [System.IO.File]::Delete($filePath)
        $changed = $true
    }
    $Result['changed'] = $changed
    $Result['status'] = 'ok'
}

function ConvertTo-CommandLineArgument {
    # Quote one argument by the CommandLineToArgvW rules, so data stays one
    # argument: it is never part of a shell or script string.
    param([string]$Argument)
    if ($Argument.Length -gt 0 -and $Argument -cnotmatch '[\s"]') {
        return $Argument
    }
    $builder = New-Object System.Text.StringBuilder
    [void]$builder.Append('"')
    $slashes = 0
    foreach ($ch in $Argument.ToCharArray()) {
        if ($ch -eq [char]92) {
            $slashes += 1
        }
        elseif ($ch -eq [char]34) {
            [void]$builder.Append(('\' * (2 * $slashes + 1)))
            [void]$builder.Append('"')
            $slashes = 0
        }
        else {
            [void]$builder.Append(('\' * $slashes))
            [void]$builder.Append($ch)
            $slashes = 0
        }
    }
    [void]$builder.Append(('\' * (2 * $slashes)))
    [void]$builder.Append('"')
    return $builder.ToString()
}

function Invoke-NativeProcess {
    # Runs an executable directly (no shell). Its stdout/stderr are drained
    # asynchronously and discarded: they must never reach our stdout, and a
    # full pipe must not block it. Returns @{ Exited; ExitCode }.
    param([string]$FileName, $Arguments, [int]$TimeoutMs)
    $quoted = New-Object System.Collections.ArrayList
    foreach ($argument in @($Arguments)) {
        [void]$quoted.Add((ConvertTo-CommandLineArgument ([string]$argument)))
    }
    $startInfo = New-Object System.Diagnostics.ProcessStartInfo
    $startInfo.FileName = $FileName
    $startInfo.Arguments = [string]::Join(' ', [string[]]$quoted.ToArray([string]))
    $startInfo.UseShellExecute = $false
    $startInfo.CreateNoWindow = $true
    $startInfo.RedirectStandardInput = $true
    $startInfo.RedirectStandardOutput = $true
    $startInfo.RedirectStandardError = $true
    $process = [System.Diagnostics.Process]::Start($startInfo)
    try {
        $process.StandardInput.Close()
        # No handler attached: .NET reads and drops the lines on its own threads.
        $process.BeginOutputReadLine()
        $process.BeginErrorReadLine()
        $exited = $process.WaitForExit($TimeoutMs)
        $code = $null
        if ($exited) {
            $process.WaitForExit()
            $code = $process.ExitCode
        }
        return @{ Exited = $exited; ExitCode = $code }
    }
    finally {
        $process.Close()
    }
}

function Invoke-RunInstaller {
    # .msi packages go through msiexec /i; anything else is started directly.
    #
    # Waited for, within the command's budget: the installer is a child of
    # this shell, and WinRM ends a shell's processes when the shell is deleted
    # (right after this command returns) and counts their memory against
    # MaxMemoryPerShellMB (150 MB on Windows 7 / WinRM 2.0). So the agent waits
    # up to timeout_ms (the controller keeps it inside its host deadline) and
    # an installer still running then is reported as not completed: it is
    # ended with the shell. Not detached into a scheduled task: a fix must
    # know in the same round trip whether the installer succeeded.
    #
    # An installer on a share (\\server\share\x.exe) cannot be read from an
    # NTLM or Basic WinRM logon, which has no network credentials (the second
    # hop); File.Exists then answers false. Said so, with the remedy, instead
    # of "not found".
    param($Action, $Result)
    $path = Expand-HostPath ([string](Get-Field $Action 'path' ''))
    if (-not [System.IO.File]::Exists($path)) {
        if ($path.StartsWith('\\') -or $path.StartsWith('//')) {
            throw ('installer on a network share cannot be read from this WinRM session: ' + $path + ' (second hop: an NTLM or Basic logon has no network credentials); copy the installer to the PC first, or connect with CredSSP or Kerberos delegation')
        }
        throw ('installer not found: ' + $path)
    }
    $timeout = [int](Get-Field $Action 'timeout_ms' 600000)
    $arguments = New-Object System.Collections.ArrayList
    $fileName = $path
    if ([System.IO.Path]::GetExtension($path) -eq '.msi') {
        $fileName = [System.IO.Path]::Combine([Environment]::SystemDirectory, 'msiexec.exe')
        [void]$arguments.Add('/i')
        [void]$arguments.Add($path)
    }
    foreach ($argument in (Get-ListField $Action 'args')) {
        [void]$arguments.Add([string]$argument)
    }
    $run = Invoke-NativeProcess $fileName $arguments.ToArray() $timeout
    if (-not $run.Exited) {
        # WinRM ends it with the shell in a moment: it will not complete.
        # changed: it may have changed something before it is ended.
        $Result['changed'] = $true
        $Result['error'] = 'installer still running after ' + $timeout + ' ms: WinRM ends it with this command''s shell, so it did not complete; give it a longer timeout or install by hand'
        return
    }
    $Result['exit_code'] = [int]$run.ExitCode
    $Result['changed'] = $true
    # 3010 / 1641: success, reboot required / initiated.
    if ($run.ExitCode -eq 0 -or $run.ExitCode -eq 3010 -or $run.ExitCode -eq 1641) {
        $Result['status'] = 'ok'
        return
    }
    $Result['error'] = 'installer exit code ' + $run.ExitCode
}

# --------------------------------------------------------------------------- schedule_reboot
# Not shutdown.exe /r /t N: a timeout above 0 implies /f, which closes running
# applications without saving (the trading client, hours after the guard
# looked). Instead a one-time task runs as SYSTEM at the chosen time, lists the
# processes then, and reboots with shutdown.exe /r /t 0 (no /f: applications
# are asked to close, never killed) only when none of the guarded processes
# runs; otherwise it skips and writes why to result.txt in its folder
# (%SystemRoot%\Temp\fleetcheck-reboot-<guid>, SYSTEM and Administrators only).
# The guarded names travel as data (guard.txt, one per line); the task script
# is fixed text started with -EncodedCommand. StartWhenAvailable: a PC that
# was off at that time re-checks and reboots when it is next up.

$RebootTaskScript = @'
$ErrorActionPreference = 'Stop'
$folder = [Environment]::CurrentDirectory.TrimEnd('\')
if ([System.IO.Path]::GetFileName($folder) -cnotmatch '^fleetcheck-reboot-[0-9a-f]{32}\z') {
    exit 1
}
$resultPath = [System.IO.Path]::Combine($folder, 'result.txt')
$stamp = [DateTime]::UtcNow.ToString('o')
$text = $null
try {
    $os = Get-WmiObject -Class Win32_OperatingSystem
    $booted = [System.Management.ManagementDateTimeConverter]::ToDateTime($os.LastBootUpTime).ToUniversalTime()
    if ($booted -gt [System.IO.Directory]::GetCreationTimeUtc($folder)) {
        throw 'skip: the PC restarted since this reboot was scheduled'
    }
    $wanted = @{}
    foreach ($line in [System.IO.File]::ReadAllLines([System.IO.Path]::Combine($folder, 'guard.txt'), [System.Text.Encoding]::UTF8)) {
        $name = $line.Trim().ToLowerInvariant()
        if ($name.EndsWith('.exe')) {
            $name = $name.Substring(0, $name.Length - 4)
        }
        if ($name -ne '') {
            $wanted[$name] = $true
        }
    }
    $running = New-Object System.Collections.ArrayList
    foreach ($process in [System.Diagnostics.Process]::GetProcesses()) {
        $image = $process.ProcessName + '.exe'
        if ($wanted.ContainsKey($process.ProcessName.ToLowerInvariant()) -and -not $running.Contains($image)) {
            [void]$running.Add($image)
        }
    }
    if ($running.Count -gt 0) {
        $text = 'SKIPPED ' + $stamp + ' guarded process running: ' + [string]::Join(', ', [string[]]$running.ToArray([string]))
    }
    else {
        [System.IO.File]::WriteAllText($resultPath, 'REBOOTING ' + $stamp, [System.Text.Encoding]::UTF8)
        $shutdown = [System.IO.Path]::Combine([Environment]::SystemDirectory, 'shutdown.exe')
        $run = [System.Diagnostics.Process]::Start($shutdown, '/r /t 0 /d p:4:1')
        if ($run.WaitForExit(60000) -and $run.ExitCode -ne 0) {
            $text = 'ERROR shutdown.exe exit code ' + $run.ExitCode
        }
    }
}
catch {
    $text = 'ERROR ' + $_.Exception.Message
    if ($_.Exception.Message.StartsWith('skip: ')) {
        $text = 'SKIPPED ' + $stamp + ' ' + $_.Exception.Message.Substring(6)
    }
}
if ($null -ne $text) {
    [System.IO.File]::WriteAllText($resultPath, $text, [System.Text.Encoding]::UTF8)
}
'@

function New-RebootTaskXml {
    # Every inserted value is XML-escaped; the time is the agent's own clock.
    param([string]$Folder, [DateTime]$At)
    $arguments = '-NoProfile -NonInteractive -WindowStyle Hidden -EncodedCommand ' + (Get-EncodedCommand $RebootTaskScript)
    $invariant = [System.Globalization.CultureInfo]::InvariantCulture
    $start = $At.ToString('yyyy-MM-ddTHH:mm:ss', $invariant)
    # An end boundary makes StartWhenAvailable apply (a PC that was off at the
    # time runs the task when it is next up) and lets the task expire.
    $end = $At.AddDays(1).ToString('yyyy-MM-ddTHH:mm:ss', $invariant)
    $lines = @(
        '<?xml version="1.0" encoding="UTF-16"?>',
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
        '<RegistrationInfo><Description>fleetcheck reboot, skipped while a guarded process runs</Description></RegistrationInfo>',
        ('<Triggers><TimeTrigger><StartBoundary>' + $start + '</StartBoundary><EndBoundary>' + $end + '</EndBoundary><Enabled>true</Enabled></TimeTrigger></Triggers>'),
        '<Principals><Principal id="Author"><UserId>S-1-5-18</UserId><RunLevel>HighestAvailable</RunLevel></Principal></Principals>',
        '<Settings><MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>',
        '<DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries><StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>',
        '<StartWhenAvailable>true</StartWhenAvailable><AllowStartOnDemand>true</AllowStartOnDemand><Enabled>true</Enabled><Hidden>true</Hidden>',
        '<DeleteExpiredTaskAfter>P1D</DeleteExpiredTaskAfter><ExecutionTimeLimit>PT10M</ExecutionTimeLimit></Settings>',
        '<Actions Context="Author"><Exec><Command>powershell.exe</Command>',
        ('<Arguments>' + [System.Security.SecurityElement]::Escape($arguments) + '</Arguments>'),
        ('<WorkingDirectory>' + [System.Security.SecurityElement]::Escape($Folder) + '</WorkingDirectory>'),
        '</Exec></Actions></Task>'
    )
    return [string]::Join("`r`n", [string[]]$lines)
}

function Invoke-ScheduleReboot {
    param($Action, $Result)
    $delay = [int](Get-Field $Action 'delay_s' 0)
    if ($delay -lt 0 -or $delay -gt 86400) {
        throw 'delay_s must be 0..86400'
    }
    $guard = New-Object System.Collections.ArrayList
    foreach ($name in (Get-ListField $Action 'guard_processes')) {
        $text = ([string]$name).Trim()
        if ($text -cnotmatch '^[^\r\n\\/:*?"<>|]{1,260}\z') {
            throw ('not a process name: ' + $text)
        }
        [void]$guard.Add($text)
    }
    $message = [string](Get-Field $Action 'message' '')
    if ($message.Length -gt 500) {
        $message = $message.Substring(0, 500)
    }
    $temp = [Environment]::ExpandEnvironmentVariables('%SystemRoot%\Temp')
    # One fleetcheck reboot at a time: one still waiting (no result.txt, made
    # since the last start; an older one skips itself) refuses another.
    $booted = [DateTime]::MinValue
    try {
        $os = Get-WmiObject -Class Win32_OperatingSystem -ErrorAction Stop
        $booted = [System.Management.ManagementDateTimeConverter]::ToDateTime($os.LastBootUpTime).ToUniversalTime()
    }
    catch {
        $booted = [DateTime]::MinValue
    }
    foreach ($other in @([System.IO.Directory]::GetDirectories($temp, 'fleetcheck-reboot-*'))) {
        $otherName = [System.IO.Path]::GetFileName($other)
        $waiting = -not [System.IO.File]::Exists([System.IO.Path]::Combine($other, 'result.txt'))
        if ($otherName -cmatch '^fleetcheck-reboot-[0-9a-f]{32}\z' -and $waiting -and [System.IO.Directory]::GetCreationTimeUtc($other) -gt $booted) {
            throw ('a fleetcheck reboot is already scheduled (\' + $otherName + ')')
        }
    }
    # The controller names the task (recorded before sending, for rollback);
    # validated strictly, it only ever becomes part of a name, never code.
    $token = [string](Get-Field $Action 'token' '')
    if ($token -eq '') {
        $token = [Guid]::NewGuid().ToString('N')
    }
    elseif ($token -cnotmatch '^[0-9a-f]{32}\z') {
        throw 'token must be 32 lowercase hex digits'
    }
    $folder = [System.IO.Path]::Combine($temp, 'fleetcheck-reboot-' + $token)
    $taskName = '\fleetcheck-reboot-' + $token
    $schtasks = [System.IO.Path]::Combine([Environment]::SystemDirectory, 'schtasks.exe')
    $created = $false
    try {
        New-PrivateFolder $folder 'S-1-5-18'
        $utf8 = New-Object System.Text.UTF8Encoding($false)
        [System.IO.File]::WriteAllText([System.IO.Path]::Combine($folder, 'guard.txt'), [string]::Join("`r`n", [string[]]$guard.ToArray([string])), $utf8)
        [System.IO.File]::WriteAllText([System.IO.Path]::Combine($folder, 'message.txt'), $message, $utf8)
        $xmlPath = [System.IO.Path]::Combine($folder, 'task.xml')
        # At least a minute ahead: a start time already past when the task is
        # registered would only run after Task Scheduler's 10-minute delay.
        $at = [DateTime]::Now.AddSeconds([Math]::Max($delay, 60))
        [System.IO.File]::WriteAllText($xmlPath, (New-RebootTaskXml $folder $at), [System.Text.Encoding]::Unicode)
        $create = Invoke-NativeProcess $schtasks @('/Create', '/TN', $taskName, '/XML', $xmlPath) 30000
        if (-not $create.Exited -or $create.ExitCode -ne 0) {
            throw ('schtasks /Create failed (exit code ' + $create.ExitCode + ')')
        }
        $created = $true
    }
    finally {
        if (-not $created -and [System.IO.Directory]::Exists($folder)) {
            [System.IO.Directory]::Delete($folder, $true)
        }
    }
    $Result['exit_code'] = 0
    $Result['task'] = $taskName
    $Result['changed'] = $true
    $Result['status'] = 'ok'
}

function Invoke-CancelReboot {
    # Rollback of schedule_reboot. Only a reboot that has not happened is
    # cancelled: a task still waiting (no result.txt) or one that skipped
    # (SKIPPED) goes with its folder. A result.txt saying anything else means
    # the task ran: nothing is touched, the answer says so.
    param($Action, $Result)
    $taskName = [string](Get-Field $Action 'task' '')
    if ($taskName -cnotmatch '^\\fleetcheck-reboot-[0-9a-f]{32}\z') {
        throw 'not a fleetcheck reboot task name'
    }
    $Result['task'] = $taskName
    $temp = [Environment]::ExpandEnvironmentVariables('%SystemRoot%\Temp')
    $folder = [System.IO.Path]::Combine($temp, $taskName.Substring(1))
    $resultPath = [System.IO.Path]::Combine($folder, 'result.txt')
    if ([System.IO.File]::Exists($resultPath)) {
        $line = [System.IO.File]::ReadAllText($resultPath, [System.Text.Encoding]::UTF8).Trim()
        if (-not $line.StartsWith('SKIPPED ')) {
            $Result['status'] = 'skipped'
            $Result['error'] = 'the reboot task already ran: ' + $line
            return
        }
    }
    $schtasks = [System.IO.Path]::Combine([Environment]::SystemDirectory, 'schtasks.exe')
    $delete = Invoke-NativeProcess $schtasks @('/Delete', '/TN', $taskName, '/F') 30000
    $deleted = $delete.Exited -and $delete.ExitCode -eq 0
    if (-not $deleted) {
        # Not deleted: gone already (exit code 1), or still there and refused.
        $query = Invoke-NativeProcess $schtasks @('/Query', '/TN', $taskName) 30000
        if (-not $query.Exited -or $query.ExitCode -eq 0) {
            throw ('schtasks /Delete failed (exit code ' + $delete.ExitCode + ')')
        }
    }
    $hadFolder = [System.IO.Directory]::Exists($folder)
    if ($hadFolder) {
        [System.IO.Directory]::Delete($folder, $true)
    }
    if (-not $deleted -and -not $hadFolder) {
        $Result['status'] = 'skipped'
        $Result['error'] = 'no such reboot task on the PC (it never arrived, or it ran and was removed)'
        return
    }
    $Result['changed'] = $true
    $Result['status'] = 'ok'
}

# --------------------------------------------------------------------------- import_pfx
# The user's Personal store belongs to the user, not to the WinRM account: the
# import runs in the user's own session as a one-shot scheduled task
# (InteractiveToken principal). The PFX and its password travel as files in a
# folder only SYSTEM, Administrators and that user can open; the task script
# below is fixed text (no request data in it), reads the password file,
# imports with X509Certificate2Collection.Import (no password on any command
# line) and writes its result to result.txt.
#
# The task starts powershell.exe -EncodedCommand <the script>, never -File
# import.ps1: an execution policy set by Group Policy (MachinePolicy /
# UserPolicy: AllSigned, Restricted) overrides -ExecutionPolicy Bypass for a
# script file, while a command given on the command line is not a script file
# and is not subject to it (about_Execution_Policies). The encoded script is
# about 7,000 characters, far inside CreateProcess's 32,767 (the task is
# registered from XML, so schtasks' 261-character /TR limit does not apply).
# With no script file there is no script path: the script finds its folder as
# the task's working directory, and checks the folder's name first.
#
# Clean-up in every path: the script deletes password.bin and cert.pfx in a
# finally block, whatever happened; the agent deletes the task and the folder
# when it is done; and when the agent itself was stopped in the middle (the
# host deadline passed during the poll and WinRM ended the shell), the next
# agent run that carries actions removes fleetcheck-* folders and tasks older
# than $StaleTaskMinutes (Remove-StaleTasks).

$ImportTaskScript = @'
$ErrorActionPreference = 'Stop'
$folder = [Environment]::CurrentDirectory.TrimEnd('\')
$ours = ([System.IO.Path]::GetFileName($folder) -cmatch '^fleetcheck-[0-9a-f]{32}\z')
$resultPath = [System.IO.Path]::Combine($folder, 'result.txt')
$partialPath = [System.IO.Path]::Combine($folder, 'result.tmp')
$secretPath = [System.IO.Path]::Combine($folder, 'password.bin')
$pfxPath = [System.IO.Path]::Combine($folder, 'cert.pfx')
try {
    if (-not $ours) {
        throw ('not a fleetcheck import folder: ' + $folder)
    }
    $secret = [System.Text.Encoding]::UTF8.GetString([System.IO.File]::ReadAllBytes($secretPath))
    [System.IO.File]::Delete($secretPath)
    $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::UserKeySet -bor [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::PersistKeySet
    $certs = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2Collection
    $certs.Import($pfxPath, $secret, $flags)
    $secret = $null
    $store = New-Object System.Security.Cryptography.X509Certificates.X509Store('My', 'CurrentUser')
    $store.Open([System.Security.Cryptography.X509Certificates.OpenFlags]::ReadWrite)
    $thumbprints = New-Object System.Collections.ArrayList
    try {
        foreach ($cert in $certs) {
            if ($cert.HasPrivateKey) {
                [void]$store.Add($cert)
                [void]$thumbprints.Add($cert.Thumbprint)
            }
        }
    }
    finally {
        $store.Close()
    }
    if ($thumbprints.Count -eq 0) {
        throw 'the PFX holds no certificate with a private key'
    }
    $text = 'OK ' + [string]::Join(',', [string[]]$thumbprints.ToArray([string]))
}
catch {
    $text = 'ERROR ' + $_.Exception.Message
}
finally {
    $secret = $null
    if ($ours) {
        foreach ($leftover in @($secretPath, $pfxPath)) {
            try {
                [System.IO.File]::Delete($leftover)
            }
            catch {
                $text = 'ERROR could not delete ' + $leftover + ': ' + $_.Exception.Message
            }
        }
    }
}
if ($ours) {
    [System.IO.File]::WriteAllText($partialPath, $text, [System.Text.Encoding]::UTF8)
    [System.IO.File]::Move($partialPath, $resultPath)
}
'@

# Folders and tasks of an import or a reboot that the agent could not clean up
# itself are removed by a later run once they are this old (an import task may
# run 10 minutes, ExecutionTimeLimit; a reboot task waits at most 24 hours).
$StaleTaskMinutes = 60
$StaleRebootMinutes = 2 * 24 * 60

function Get-EncodedCommand {
    # powershell.exe -EncodedCommand: base64 of the UTF-16LE script text.
    param([string]$Script)
    return [System.Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes($Script))
}

function Remove-StaleTasks {
    # fleetcheck-<32 hex> folders under %SystemRoot%\Temp (imports) and
    # fleetcheck-reboot-<32 hex> (reboots), with their tasks, once older than
    # the bound. Bounded: at most 200 of each per run.
    param($State)
    $temp = [Environment]::ExpandEnvironmentVariables('%SystemRoot%\Temp')
    $schtasks = [System.IO.Path]::Combine([Environment]::SystemDirectory, 'schtasks.exe')
    if (-not [System.IO.Directory]::Exists($temp)) {
        return
    }
    $now = [DateTime]::UtcNow
    $seen = 0
    foreach ($folder in @([System.IO.Directory]::GetDirectories($temp, 'fleetcheck-*'))) {
        if ($seen -ge 200) {
            break
        }
        $seen += 1
        $name = [System.IO.Path]::GetFileName($folder)
        $limit = $StaleTaskMinutes
        $taskName = $null
        if ($name -cmatch '^fleetcheck-[0-9a-f]{32}\z') {
            $taskName = '\fleetcheck-import-' + $name.Substring('fleetcheck-'.Length)
        }
        elseif ($name -cmatch '^fleetcheck-reboot-[0-9a-f]{32}\z') {
            $taskName = '\' + $name
            $limit = $StaleRebootMinutes
        }
        else {
            continue
        }
        $age = $now - [System.IO.Directory]::GetCreationTimeUtc($folder)
        if ($age.TotalMinutes -lt $limit) {
            continue
        }
        try {
            # Exit code ignored: the task may be gone already.
            [void](Invoke-NativeProcess $schtasks @('/Delete', '/TN', $taskName, '/F') 30000)
            [System.IO.Directory]::Delete($folder, $true)
        }
        catch {
            [void]$State.Errors.Add('cleanup: could not remove ' + $folder + ': ' + $_.Exception.Message)
        }
    }
    # Tasks whose folder is gone already: their definitions are files named
    # like the task in %SystemRoot%\System32\Tasks.
    $tasks = [System.IO.Path]::Combine([Environment]::SystemDirectory, 'Tasks')
    if (-not [System.IO.Directory]::Exists($tasks)) {
        return
    }
    $seen = 0
    foreach ($file in @([System.IO.Directory]::GetFiles($tasks, 'fleetcheck-*'))) {
        if ($seen -ge 200) {
            break
        }
        $seen += 1
        $name = [System.IO.Path]::GetFileName($file)
        $limit = $StaleTaskMinutes
        if ($name -cmatch '^fleetcheck-reboot-[0-9a-f]{32}\z') {
            $limit = $StaleRebootMinutes
        }
        elseif ($name -cnotmatch '^fleetcheck-import-[0-9a-f]{32}\z') {
            continue
        }
        $age = $now - [System.IO.File]::GetLastWriteTimeUtc($file)
        if ($age.TotalMinutes -ge $limit) {
            [void](Invoke-NativeProcess $schtasks @('/Delete', '/TN', ('\' + $name), '/F') 30000)
        }
    }
}

function New-PrivateFolder {
    # Created with its ACL in one call: no moment where others could open it.
    param([string]$Path, [string]$UserSid)
    $security = New-Object System.Security.AccessControl.DirectorySecurity
    $security.SetAccessRuleProtection($true, $false)
    $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    $propagate = [System.Security.AccessControl.PropagationFlags]::None
    $allow = [System.Security.AccessControl.AccessControlType]::Allow
    $grants = @(
        @('S-1-5-18', 'FullControl'),
        @('S-1-5-32-544', 'FullControl'),
        @($UserSid, 'Modify')
    )
    foreach ($grant in $grants) {
        $identity = New-Object System.Security.Principal.SecurityIdentifier($grant[0])
        $rights = [System.Security.AccessControl.FileSystemRights]($grant[1])
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($identity, $rights, $inherit, $propagate, $allow)
        $security.AddAccessRule($rule)
    }
    [void][System.IO.Directory]::CreateDirectory($Path, $security)
}

function New-ImportTaskXml {
    # Every inserted value is XML-escaped; the SID is validated, the folder is ours.
    # The script is fixed text, started as an encoded command, never as a script file (see above).
    param([string]$UserSid, [string]$Folder)
    $arguments = '-NoProfile -NonInteractive -WindowStyle Hidden -EncodedCommand ' + (Get-EncodedCommand $ImportTaskScript)
    $lines = @(
        '<?xml version="1.0" encoding="UTF-16"?>',
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
        '<RegistrationInfo><Description>fleetcheck one-shot certificate import</Description></RegistrationInfo>',
        '<Principals><Principal id="Author">',
        ('<UserId>' + [System.Security.SecurityElement]::Escape($UserSid) + '</UserId>'),
        '<LogonType>InteractiveToken</LogonType><RunLevel>LeastPrivilege</RunLevel>',
        '</Principal></Principals>',
        '<Settings><MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>',
        '<DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries><StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>',
        '<AllowStartOnDemand>true</AllowStartOnDemand><Enabled>true</Enabled><Hidden>true</Hidden>',
        '<ExecutionTimeLimit>PT10M</ExecutionTimeLimit></Settings>',
        '<Actions Context="Author"><Exec><Command>powershell.exe</Command>',
        ('<Arguments>' + [System.Security.SecurityElement]::Escape($arguments) + '</Arguments>'),
        ('<WorkingDirectory>' + [System.Security.SecurityElement]::Escape($Folder) + '</WorkingDirectory>'),
        '</Exec></Actions></Task>'
    )
    return [string]::Join("`r`n", [string[]]$lines)
}

function Invoke-ImportPfx {
    param($Action, $Result, $State)
    $sid = [string](Get-Field $Action 'sid' '')
    Assert-Sid $sid
    if (-not ($State.InteractiveSids -contains $sid)) {
        throw ('the user ' + $sid + ' has no interactive session (no explorer.exe): import not possible now')
    }
    $timeout = [int](Get-Field $Action 'timeout_ms' 60000)
    $pfx = [System.Convert]::FromBase64String([string](Get-Field $Action 'pfx' ''))
    $secret = [System.Text.Encoding]::UTF8.GetBytes([string](Get-Field $Action 'password' ''))
    $token = [Guid]::NewGuid().ToString('N')
    $folder = [System.IO.Path]::Combine([Environment]::ExpandEnvironmentVariables('%SystemRoot%\Temp'), 'fleetcheck-' + $token)
    $taskName = '\fleetcheck-import-' + $token
    $schtasks = [System.IO.Path]::Combine([Environment]::SystemDirectory, 'schtasks.exe')
    $taskCreated = $false
    try {
        New-PrivateFolder $folder $sid
        [System.IO.File]::WriteAllBytes([System.IO.Path]::Combine($folder, 'cert.pfx'), $pfx)
        [System.IO.File]::WriteAllBytes([System.IO.Path]::Combine($folder, 'password.bin'), $secret)
        $xmlPath = [System.IO.Path]::Combine($folder, 'task.xml')
        [System.IO.File]::WriteAllText($xmlPath, (New-ImportTaskXml $sid $folder), [System.Text.Encoding]::Unicode)
        $create = Invoke-NativeProcess $schtasks @('/Create', '/TN', $taskName, '/XML', $xmlPath) 30000
        if (-not $create.Exited -or $create.ExitCode -ne 0) {
            throw ('schtasks /Create failed (exit code ' + $create.ExitCode + ')')
        }
        $taskCreated = $true
        $start = Invoke-NativeProcess $schtasks @('/Run', '/TN', $taskName) 30000
        if (-not $start.Exited -or $start.ExitCode -ne 0) {
            throw ('schtasks /Run failed (exit code ' + $start.ExitCode + ')')
        }
        $resultPath = [System.IO.Path]::Combine($folder, 'result.txt')
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        $polls = 0
        # Bounded twice: by the timeout and by a poll count.
        while (-not [System.IO.File]::Exists($resultPath) -and $watch.ElapsedMilliseconds -lt $timeout -and $polls -lt 3000) {
            Start-Sleep -Milliseconds 200
            $polls += 1
        }
        if (-not [System.IO.File]::Exists($resultPath)) {
            throw ('the import task did not finish within ' + $timeout + ' ms')
        }
        $outcome = [System.IO.File]::ReadAllText($resultPath, [System.Text.Encoding]::UTF8).Trim()
        if ($outcome.StartsWith('OK ')) {
            $Result['thumbprint'] = $outcome.Substring(3).Split(',')[0].Trim()
            $Result['changed'] = $true
            $Result['status'] = 'ok'
        }
        else {
            $Result['error'] = 'import in the user session failed: ' + $outcome
        }
    }
    finally {
        if ($taskCreated) {
            [void](Invoke-NativeProcess $schtasks @('/Delete', '/TN', $taskName, '/F') 30000)
        }
        if ([System.IO.Directory]::Exists($folder)) {
            try {
                [System.IO.Directory]::Delete($folder, $true)
            }
            catch {
                # The task may still hold a file; the folder is private, so the
                # password file (deleted first by the task) is the only risk.
                [void]$State.Errors.Add('import_pfx: could not remove ' + $folder + ': ' + $_.Exception.Message)
            }
        }
    }
}

function Hide-Secret {
    # The PFX password must never appear in any output, even inside an
    # exception message from some layer below us.
    param($Text, $Action)
    if ($null -eq $Text) {
        return $null
    }
    $secret = [string](Get-Field $Action 'password' '')
    if ($secret.Length -gt 0) {
        return ([string]$Text).Replace($secret, '***')
    }
    return [string]$Text
}

function Invoke-Action {
    param($Action, $State)
    $result = New-ActionResult $Action
    $kind = [string](Get-Field $Action 'kind' '')
    try {
        switch ($kind) {
            'set_value' {
                Invoke-SetValue $Action $result
            }
            'delete_value' {
                Invoke-DeleteValue $Action $result
            }
            'delete_key' {
                Invoke-DeleteKey $Action $result
            }
            'restore_key' {
                Invoke-RestoreKey $Action $result
            }
            'write_file' {
                Invoke-WriteFile $Action $result $State
            }
            'import_pfx' {
                Invoke-ImportPfx $Action $result $State
            }
            'remove_cert' {
                Invoke-RemoveCert $Action $result $State
            }
            'run_installer' {
                Invoke-RunInstaller $Action $result
            }
            'schedule_reboot' {
                Invoke-ScheduleReboot $Action $result
            }
            'cancel_reboot' {
                Invoke-CancelReboot $Action $result
            }
            default {
                throw ('unknown action kind: ' + $kind)
            }
        }
    }
    catch {
        $result['status'] = 'error'
        $result['error'] = $_.Exception.Message
    }
    $result['error'] = Hide-Secret $result['error'] $Action
    [void]$State.Actions.Add($result)
}

# ============================================================================ main

function Write-Response {
    # Raw ASCII bytes straight to the stdout handle: no console encoding, no BOM.
    # Streamed: the writer flushes every ~64K characters and sends long base64
    # strings in pieces, so the answer is never held as one string, one
    # StringBuilder and one byte array at once (three copies of a backup).
    param($Response)
    $stdout = [Console]::OpenStandardOutput()
    $builder = New-Object System.Text.StringBuilder
    $JsonSink.Stream = $stdout
    try {
        Add-JsonValue $builder $Response
        Send-JsonText $builder
    }
    finally {
        $JsonSink.Stream = $null
    }
    $stdout.Flush()
}

function Invoke-Agent {
    param($Json)
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        $request = Read-Request ([string]$Json)
    }
    catch {
        Stop-Agent ('the request is not readable JSON: ' + $_.Exception.Message)
    }
    $version = Get-Field $request 'schema_version'
    if (-not ($version -is [int]) -or $version -ne $SchemaVersion) {
        Stop-Agent ('unsupported schema_version ' + $version + ' (this agent speaks ' + $SchemaVersion + ')')
    }
    $state = @{
        Errors = (New-Object System.Collections.ArrayList);
        Answers = (New-Object System.Collections.ArrayList);
        Actions = (New-Object System.Collections.ArrayList);
        Processes = (New-Object System.Collections.ArrayList);
        InteractiveSids = (New-Object System.Collections.ArrayList);
        BackupBytesLeft = [long]$MaxBackupBytes;
        LoadedSids = (New-Object System.Collections.ArrayList);
        ProfilePaths = @{};
        AppDataPaths = @{}
    }

    $os = $null
    try {
        $os = Get-WmiObject -Class Win32_OperatingSystem -ErrorAction Stop
    }
    catch {
        [void]$state.Errors.Add('os: ' + $_.Exception.Message)
    }
    $computerSystem = $null
    try {
        $computerSystem = Get-WmiObject -Class Win32_ComputerSystem -ErrorAction Stop
    }
    catch {
        [void]$state.Errors.Add('computer system: ' + $_.Exception.Message)
    }
    try {
        Get-ProcessFacts ([bool](Get-Field $request 'want_processes' $true)) $state
    }
    catch {
        [void]$state.Errors.Add('processes: ' + $_.Exception.Message)
    }
    try {
        $state.LoadedSids = Get-LoadedUserSids
    }
    catch {
        [void]$state.Errors.Add('user hives: ' + $_.Exception.Message)
    }
    $consoleSid = $null
    if ($null -ne $computerSystem) {
        $consoleSid = Get-SidOfAccount $computerSystem.UserName
    }
    $profiles = New-JsonList
    try {
        $profiles = Get-ProfileFacts $state.LoadedSids $consoleSid $state.InteractiveSids
        foreach ($entry in $profiles) {
            $state.ProfilePaths[$entry['sid']] = $entry['path']
            $state.AppDataPaths[$entry['sid']] = $entry['appdata']
        }
    }
    catch {
        [void]$state.Errors.Add('profiles: ' + $_.Exception.Message)
    }

    foreach ($query in (Get-ListField $request 'queries')) {
        Invoke-Query $query $state
    }
    $actions = Get-ListField $request 'actions'
    if ($actions.Length -gt 0) {
        try {
            Remove-StaleTasks $state
        }
        catch {
            [void]$state.Errors.Add('cleanup: ' + $_.Exception.Message)
        }
    }
    foreach ($action in $actions) {
        Invoke-Action $action $state
    }

    $response = New-JsonObject
    $response['schema_version'] = $SchemaVersion
    $response['agent_version'] = $AgentVersion
    $response['elapsed_ms'] = 0
    $response['os'] = Get-OsFacts $os $computerSystem
    $response['profiles'] = $profiles
    $response['processes'] = $state.Processes
    $response['answers'] = $state.Answers
    $response['actions'] = $state.Actions
    $response['errors'] = $state.Errors
    $response['elapsed_ms'] = [long]$watch.ElapsedMilliseconds
    Write-Response $response
}

try {
    # $null = : nothing the agent emits by accident may reach stdout before the JSON.
    $null = Invoke-Agent $RequestJson
}
catch {
    Stop-Agent ('internal error: ' + $_.Exception.Message)
}
# Native tools (schtasks, shutdown) set $LASTEXITCODE; the bootstrap exits with it.
$global:LASTEXITCODE = 0
exit 0
