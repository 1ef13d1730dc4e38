"""Hold PowerShell source to the .NET Framework 2.0/3.5 API (see dotnet_api.py).

On tree-sitter's syntax tree (the parser of agent_ps_lint.py) this finds every
use of .NET the script makes and checks it against the reference assemblies:

* a type literal or cast ``[System.X.Y]`` / ``[int]`` / ``[List[string]]``: the type
  exists (PowerShell 2.0's accelerators, then the name, then ``System.`` + name);
* ``New-Object X`` / ``New-Object X(a, b)`` / ``New-Object -TypeName X -ArgumentList a, b``:
  the type exists and has a public constructor taking that many arguments (when
  the count can be seen: a list of values, or one value of a known non-collection
  type; -ArgumentList spreads a collection into several arguments);
* ``[X]::Name``: a public static property or field (or method group) of X;
* ``[X]::M(a, b, c)``: a public static method M of X with an overload taking three
  arguments (optional parameters and ``params`` arrays counted); ``[X]::new()``
  is PowerShell 5 and always a violation;
* ``$v.Name`` / ``$v.M(a)`` when the receiver's type is known -- a cast, a typed
  parameter, ``[X]$v = ...``, ``$v = New-Object X``, a typed return or property
  (``$v = [X]::M()``, ``[Registry]::LocalMachine.OpenSubKey($p)``) -- the member
  exists on that class or its base classes (PowerShell 2.0 does not reach members
  a class implements explicitly for an interface, e.g. Array's ``Contains``; an
  interface-typed value may use the interface's members), or among the members
  PowerShell 2.0 adds (types.ps1xml, PSObject's intrinsic members);
* ``Add-Type -AssemblyName X`` / ``[Reflection.Assembly]::Load('X, Version=...')``:
  X is a .NET 2.0/3.5 framework (or PowerShell 2.0) assembly, of that version.

Types whose members PowerShell makes up at run time (dictionaries: keys; XML
nodes: child elements; WMI and ADSI objects; PSObject) are not member-checked.

A variable is typed only when PowerShell itself guarantees the type: a type
constraint, or every assignment in its function giving the same known type,
and never from an expression whose value is a collection (the pipeline unrolls
those into ``object[]`` or a scalar).

Limits: a receiver is checked against its declared type (a method returning
``WebRequest`` is not known to give an ``HttpWebRequest``: cast it); functions'
return values, pipeline items (``$_``) and WMI/COM objects are not typed;
whether PowerShell 2.0 has loaded an assembly by default is not checked (only
that the type exists in a .NET 2.0/3.5 framework assembly); PowerShell's own
types come from the hand-written PS_TYPES table, not from metadata.

Example::

    >>> check("[String]::IsNullOrWhiteSpace($x)", api).violations
    [Violation(rule='static-call', line=1, ...)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import agent_ps_lint as ps
from dotnet_api import ApiModel
from tree_sitter import Node

# PowerShell 2.0's type accelerators (System.Management.Automation.TypeAccelerators
# in the 2.0 engine). Names not here resolve as a full name, then as "System." + name.
ACCELERATORS: dict[str, str] = {
    "int": "System.Int32",
    "long": "System.Int64",
    "string": "System.String",
    "char": "System.Char",
    "bool": "System.Boolean",
    "byte": "System.Byte",
    "double": "System.Double",
    "decimal": "System.Decimal",
    "float": "System.Single",
    "single": "System.Single",
    "regex": "System.Text.RegularExpressions.Regex",
    "array": "System.Array",
    "xml": "System.Xml.XmlDocument",
    "scriptblock": "System.Management.Automation.ScriptBlock",
    "switch": "System.Management.Automation.SwitchParameter",
    "hashtable": "System.Collections.Hashtable",
    "type": "System.Type",
    "ref": "System.Management.Automation.PSReference",
    "psobject": "System.Management.Automation.PSObject",
    "psmoduleinfo": "System.Management.Automation.PSModuleInfo",
    "powershell": "System.Management.Automation.PowerShell",
    "runspacefactory": "System.Management.Automation.Runspaces.RunspaceFactory",
    "runspace": "System.Management.Automation.Runspaces.Runspace",
    "ipaddress": "System.Net.IPAddress",
    "wmi": "System.Management.ManagementObject",
    "wmisearcher": "System.Management.ManagementObjectSearcher",
    "wmiclass": "System.Management.ManagementClass",
    "adsi": "System.DirectoryServices.DirectoryEntry",
    "adsisearcher": "System.DirectoryServices.DirectorySearcher",
    "psprimitivedictionary": "System.Management.Automation.PSPrimitiveDictionary",
}

# PowerShell's own types (System.Management.Automation 1.0.0.0, i.e. PowerShell 2.0)
# are not in Mono's assemblies: their PowerShell 2.0 static members, by hand.
# Source: the PowerShell 2.0 SDK reference (System.Management.Automation namespace);
# ScriptBlock.Create is documented "Windows PowerShell 2.0".
PS_TYPES: dict[str, dict[str, tuple[int, ...]]] = {
    # name -> static member (lower case) -> the argument counts it takes; () for a property
    "System.Management.Automation.ScriptBlock": {"create": (1,)},
    "System.Management.Automation.PSObject": {"aspsobject": (1,)},
    "System.Management.Automation.PSReference": {},
    "System.Management.Automation.SwitchParameter": {"present": ()},
    "System.Management.Automation.PSCredential": {},
    "System.Management.Automation.PSModuleInfo": {},
    "System.Management.Automation.PowerShell": {"create": (0,)},
    "System.Management.Automation.Runspaces.RunspaceFactory": {"createrunspace": (0, 1, 2)},
    "System.Management.Automation.Runspaces.Runspace": {"defaultrunspace": ()},
    "System.Management.Automation.PSPrimitiveDictionary": {},
    # Ignore and Suspend came with PowerShell 3.0.
    "System.Management.Automation.ActionPreference": {
        n: () for n in ("silentlycontinue", "stop", "continue", "inquire")
    },
}

_PS_TYPES_BY_LOWER = {name.lower(): name for name in PS_TYPES}

# PowerShell 2.0's own assemblies (not in Mono's folder), loadable by name.
PS_ASSEMBLIES = {
    "system.management.automation",
    "microsoft.powershell.commands.utility",
    "microsoft.powershell.commands.management",
    "microsoft.powershell.security",
    "microsoft.powershell.consolehost",
    "microsoft.wsman.management",
}
# Static methods that load an assembly by (display) name.
_LOAD_BY_NAME = {"load", "loadwithpartialname"}

# Members PowerShell 2.0 puts on objects of a type (types.ps1xml of PowerShell 2.0),
# and the intrinsic members of every object.
ETS_MEMBERS: dict[str, set[str]] = {
    "System.Array": {"count"},
    "System.IO.FileInfo": {"mode", "versioninfo", "basename"},
    "System.IO.DirectoryInfo": {"mode", "basename"},
    "System.Diagnostics.Process": {
        "name",
        "handles",
        "vm",
        "ws",
        "pm",
        "npm",
        "path",
        "company",
        "cpu",
        "fileversion",
        "productversion",
        "description",
        "product",
    },
    "System.Security.AccessControl.ObjectSecurity": {
        "path",
        "owner",
        "group",
        "access",
        "sddl",
        "accesstostring",
        "audittostring",
    },
}
INTRINSIC_MEMBERS = {"psobject", "psbase", "psadapted", "psextended", "pstypenames"}

# Types whose members PowerShell adapts at run time: any name may be valid.
ADAPTED_TYPES = (
    "System.Collections.IDictionary",
    "System.Xml.XmlNode",
    "System.Xml.XmlNodeList",
    "System.Management.ManagementBaseObject",
    "System.DirectoryServices.DirectoryEntry",
    "System.DirectoryServices.PropertyCollection",
    "System.Data.DataRow",
    "System.Data.DataRowView",
)
# Static types that say nothing about the object's members.
OPAQUE_TYPES = {"System.Object", "System.MarshalByRefObject", "System.__ComObject"}

# A value of these is not unrolled by the pipeline although it is enumerable.
_NOT_UNROLLED = ("System.String", "System.Collections.IDictionary")


@dataclass(frozen=True)
class Violation:
    rule: str  # type, ctor, static-member, static-call, ::new, member, call
    line: int
    text: str
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule}: {self.text} -- {self.detail}"


@dataclass
class Report:
    """What the script names, what was verified, what is wrong."""

    violations: list[Violation] = field(default_factory=list)
    types: set[str] = field(default_factory=set)  # resolved full names
    ctors: list[tuple[str, int | None]] = field(default_factory=list)
    static_members: list[tuple[str, str]] = field(default_factory=list)
    static_calls: list[tuple[str, str, int]] = field(default_factory=list)
    instance_members: list[tuple[str, str, int | None]] = field(default_factory=list)
    assemblies: list[str] = field(default_factory=list)  # names loaded by the script
    unchecked_members: int = 0  # member uses on a receiver of unknown type

    def summary(self) -> str:
        return (
            f"{len(self.types)} types, {len(self.ctors)} New-Object (constructors), "
            f"{len(self.static_members)} static member reads, {len(self.static_calls)} "
            f"static calls, {len(self.instance_members)} typed instance member uses verified; "
            f"{self.unchecked_members} member uses on untyped values not checkable; "
            f"{len(self.assemblies)} assembly loads"
        )


def _line(node: Node) -> int:
    return node.start_point[0] + 1


def _snippet(node: Node) -> str:
    return ps.text(node).split("\n")[0][:100]


def _inner(node: Node) -> Node:
    """Through wrappers, single-element pipelines and parentheses to the expression."""
    for _ in range(64):
        node = ps.unwrap(node)
        if node.type in {"parenthesized_expression", "pipeline"}:
            named = [c for c in node.named_children if c.type != "comment"]
            if len(named) != 1:
                return node
            node = named[0]
            continue
        if node.type == "expression_with_unary_operator" and node.named_child_count == 1:
            child = node.named_children[0]
            if child.type == "cast_expression":
                node = child
                continue
        return node
    return node


def _generic_arguments(written: str) -> list[str]:
    """The type arguments of ``List[string]`` / ``Dictionary[string,List[int]]`` as text."""
    written = written.replace(" ", "")
    if not written.endswith("]") or "[" not in written:
        return []
    inside = written[written.index("[") + 1 : -1]
    if inside.strip(",") == "":
        return []  # an array rank, not generic arguments
    parts: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(inside):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(inside[start:index])
            start = index + 1
    parts.append(inside[start:])
    return [p[1:-1] if p.startswith("[") and p.endswith("]") else p for p in parts if p]


def _walk_scope(scope: Node) -> Iterator[Node]:
    """The nodes of one function (or the script body), not those of functions inside it."""
    stack = [scope]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(
            child for child in reversed(current.children) if child.type != "function_statement"
        )


class Checker:
    def __init__(self, api: ApiModel) -> None:
        self.api = api
        self.report = Report()
        # function node id -> lower variable name -> type (None: unknown)
        self._scopes: dict[int, dict[str, str | None]] = {}

    # --------------------------------------------------------------- types

    def spec_name(self, spec: Node) -> str:
        """A type_spec as PowerShell wrote it, with generic arity: ``List`1``, ``string[]``."""
        child = spec.named_children[0] if spec.named_children else spec
        if child.type == "array_type_name":
            inner = child.named_children[0]
            rank = ps.text(child)[len(ps.text(inner)) :].count(",")
            return self._name_text(inner) + "[" + "," * rank + "]"
        if child.type == "generic_type_name":
            base = child.named_children[0]
            args = [c for c in child.named_children if c.type == "generic_type_arguments"]
            count = len([c for c in args[0].named_children if c.type == "type_spec"]) if args else 0
            return self._name_text(base) + f"`{count}"
        return self._name_text(child)

    @staticmethod
    def _name_text(node: Node) -> str:
        return ps.text(node).replace(" ", "")

    def resolve(self, written: str) -> str | None:
        """PowerShell 2.0's lookup of a type name: accelerator, name, ``System.`` + name."""
        written = written.strip().replace(" ", "")
        suffix = ""
        if written.endswith("]"):
            start = written.index("[")
            inside = written[start + 1 : -1]
            if inside.strip(",") == "":
                written, suffix = written[:start], written[start:]
            else:  # a generic instance written as text: List[string], Dictionary[string,int]
                depth, count = 0, 1
                for char in inside:
                    depth += {"[": 1, "]": -1}.get(char, 0)
                    count += char == "," and depth == 0
                if "`" not in written[:start]:
                    written = written[:start] + f"`{count}"
                else:
                    written = written[:start]
        low = written.lower()
        candidates = [ACCELERATORS[low]] if low in ACCELERATORS else []
        candidates += [written, "System." + written]
        for candidate in candidates:
            if candidate.lower() in _PS_TYPES_BY_LOWER:
                return _PS_TYPES_BY_LOWER[candidate.lower()] + suffix
            info = self.api.get(candidate)
            if info is not None:
                return info.full_name + suffix
        return None

    def literal_type(self, literal: Node) -> str | None:
        """Resolve (and record) a type_literal; a violation when .NET 3.5 has no such type."""
        specs = [c for c in literal.children if c.type == "type_spec"]
        if not specs:
            return None
        return self._spec_type(specs[0], literal)

    def _spec_type(self, spec: Node, where: Node) -> str | None:
        written = self.spec_name(spec)
        resolved = self.resolve(written)
        # Generic arguments are types too.
        child = spec.named_children[0] if spec.named_children else spec
        for part in ps.walk(child):
            parent = part.parent
            if (
                part.type == "type_spec"
                and parent is not None
                and parent.type == "generic_type_arguments"
                and parent.parent == child
            ):
                self._spec_type(part, where)  # a direct generic argument (it checks its own)
        if resolved is None:
            self._flag(
                "type",
                where,
                f"no type {written!r} in .NET 2.0/3.5 or PowerShell 2.0 (PowerShell's own "
                "types are listed by hand in ps_dotnet.PS_TYPES)",
            )
            return None
        if not resolved.endswith("]") or "`" not in resolved:
            self.report.types.add(resolved.split("[")[0] if "`" not in resolved else resolved)
        return resolved

    def _flag(self, rule: str, node: Node, detail: str) -> None:
        self.report.violations.append(Violation(rule, _line(node), _snippet(node), detail))

    # ------------------------------------------------------------ arguments

    @staticmethod
    def arguments(argument_list: Node) -> list[Node]:
        """The top-level arguments of ``(a, b, c)``.

        tree-sitter reads ``[Type], 'x'`` as a cast of the unary-comma array ``,'x'``;
        PowerShell reads two arguments (``[Enum]::Parse([DayOfWeek], 'Monday')``), so a
        cast whose operand starts with a comma is split back into its elements.
        """
        lists = [c for c in argument_list.named_children if c.type == "argument_expression_list"]
        if not lists:
            return []
        items: list[Node] = []
        for item in lists[0].named_children:
            if item.type == "comment":
                continue
            extra: list[Node] = []
            current = ps.unwrap(item)
            for _ in range(64):
                if (
                    current.type == "expression_with_unary_operator"
                    and current.named_child_count == 1
                ):
                    current = current.named_children[0]
                    continue
                if current.type != "cast_expression" or current.named_child_count != 2:
                    break
                operand = ps.unwrap(current.named_children[1])
                if operand.type != "expression_with_unary_operator" or not ps.text(
                    operand
                ).startswith(","):
                    break
                extra.append(operand.named_children[0])
                current = ps.unwrap(operand.named_children[0])
            items.append(item)
            items.extend(extra)
        return items

    @staticmethod
    def call_arity(node: Node) -> int:
        """How many arguments ``M(a, b, c)`` passes (top-level commas)."""
        for child in node.children:
            if child.type == "argument_list":
                return len(Checker.arguments(child))
        return 0

    def value_count(self, node: Node) -> int | None:
        """How many constructor arguments a New-Object argument stands for, if visible.

        -ArgumentList takes an object[]: a collection given as one value is spread
        into several arguments, so a lone value counts as one only when its type is
        known not to be a collection.
        """
        node = ps.unwrap(node)
        if node.type == "argument_list":
            items = Checker.arguments(node)
            if not items:
                return 0
            if len(items) == 1:
                return self.value_count(items[0])
            return len(items)
        if node.type == "array_literal_expression":
            return len(node.named_children)
        if node.type == "parenthesized_expression":
            inner = _inner(node)
            if inner is node:
                return None
            return self.value_count(inner)
        return self._single_value_count(node)

    def _single_value_count(self, node: Node) -> int | None:
        """value_count of anything but a list, an array literal or parentheses."""
        if node.type == "expression_with_unary_operator" and ps.text(node).startswith(","):
            return 1  # ,$x: a one-element array
        if node.type == "variable" and ps.text(node).lower() in ("$true", "$false", "$null"):
            return 1
        if node.type in ("sub_expression", "array_expression", "command"):
            return None
        if node.type in ("string_literal", "expandable_string_literal", "integer_literal"):
            return 1
        kind = self.infer(node)
        if kind is None or self._unrolled(kind):
            return None  # a collection, or a value of unknown type: cannot tell
        return 1

    # --------------------------------------------------------------- scopes

    def _scope_of(self, node: Node) -> Node:
        current: Node | None = node.parent
        while current is not None:
            if current.type == "function_statement":
                return current
            if current.type == "program":
                return current
            current = current.parent
        return node

    def _collect_scope(self, scope: Node) -> dict[str, str | None]:
        """Variable types in one function (or the script body)."""
        constrained: dict[str, str | None] = {}
        assigned: dict[str, list[str | None]] = {}

        for node in _walk_scope(scope):
            if node.type == "script_parameter":
                self._note_parameter(node, constrained, assigned)
            elif node.type == "assignment_expression":
                self._note_assignment(node, constrained, assigned)
            elif node.type == "foreach_statement":
                var = next((c for c in node.children if c.type == "variable"), None)
                if var is not None:
                    assigned.setdefault(ps.text(var).lower(), []).append(None)
            elif node.type == "cast_expression":
                literal = node.named_children[0]
                if ps.text(literal).replace(" ", "").lower() == "[ref]":
                    var = _inner(node.named_children[-1])
                    if var.type == "variable":
                        assigned.setdefault(ps.text(var).lower(), []).append(None)
            elif node.type == "command_parameter" and ps.text(node).lower().rstrip(":") in (
                "-outvariable",
                "-ov",
                "-errorvariable",
                "-ev",
                "-variable",
            ):
                target_arg = node.next_named_sibling
                if target_arg is not None:
                    named = "$" + ps.text(target_arg).strip("'\"").lstrip("+").lower()
                    assigned.setdefault(named, []).append(None)
            elif node.type == "command" and (ps.command_name(node) or "").lower() in (
                "set-variable",
                "new-variable",
                "sv",
                "nv",
            ):
                assigned.clear()  # variables named by strings: give up on this scope
        types: dict[str, str | None] = {}
        for name, kinds in assigned.items():
            first = kinds[0]
            types[name] = first if all(k == first for k in kinds) else None
        types.update(constrained)
        return types

    def _note_parameter(self, node: Node, constrained: dict[str, str | None],
                        assigned: dict[str, list[str | None]]) -> None:
        """A script parameter: its type constraint ([int]$x), or untyped."""
        var = next((c for c in node.children if c.type == "variable"), None)
        literals = [
            c
            for attr in node.children
            if attr.type == "attribute_list"
            for a in attr.named_children
            for c in a.named_children
            if c.type == "type_literal"
        ]
        if var is not None:
            name = ps.text(var).lower()
            constrained[name] = self._literal_name(literals[-1]) if literals else None
            if not literals:
                assigned.setdefault(name, []).append(None)

    def _note_assignment(self, node: Node, constrained: dict[str, str | None],
                         assigned: dict[str, list[str | None]]) -> None:
        """``$x = ...`` (its value's type), ``[T]$x = ...`` (a constraint), ``$x += ...`` (unknown)."""
        left = node.children[0]
        if left.type == "left_assignment_expression" and left.named_child_count == 1:
            left = left.named_children[0]
        target = _inner(left)
        op = ps.text(node.children[1]).strip() if len(node.children) > 1 else "="
        if target.type == "cast_expression":
            var = _inner(target.named_children[-1])
            if var.type == "variable":
                literal = target.named_children[0]
                constrained[ps.text(var).lower()] = self._literal_name(literal)
            return
        if target.type != "variable":
            return
        name = ps.text(target).lower()
        if op != "=":
            assigned.setdefault(name, []).append(None)
            return
        right = node.children[-1]
        if _inner(right).type == "variable" and ps.text(_inner(right)).lower() == "$null":
            return
        assigned.setdefault(name, []).append(self._assigned_type(right))

    def _literal_name(self, literal: Node) -> str | None:
        specs = [c for c in literal.children if c.type == "type_spec"]
        return self.resolve(self.spec_name(specs[0])) if specs else None

    def _assigned_type(self, right: Node) -> str | None:
        expr = _inner(right)
        kind = self.infer(expr)
        if kind is None:
            return None
        if expr.type == "command":
            return kind  # New-Object writes its object without unrolling it
        if self._unrolled(kind):
            return None
        return kind

    def _unrolled(self, kind: str) -> bool:
        if kind.endswith("]"):
            return True
        if any(self.api.is_a(kind, t) for t in _NOT_UNROLLED):
            return False
        return self.api.is_a(kind, "System.Collections.IEnumerable")

    def variable_type(self, var: Node) -> str | None:
        scope = self._scope_of(var)
        if scope.id not in self._scopes:
            self._scopes[scope.id] = {}  # guards against recursion through infer()
            self._scopes[scope.id] = self._collect_scope(scope)
        return self._scopes[scope.id].get(ps.text(var).lower())

    # ------------------------------------------------------------ inference

    def infer(self, node: Node, depth: int = 0) -> str | None:
        """The .NET type of an expression's value, when PowerShell guarantees it."""
        if depth > 32:
            return None
        node = _inner(node)
        kind = node.type
        if kind == "cast_expression":
            literal = node.named_children[0]
            name = self._literal_name(literal)
            if name is None or name.lower() in (
                "system.void",
                "system.management.automation.psreference",
            ):
                return None
            return name
        if kind in {"string_literal", "expandable_string_literal"}:
            return "System.String"
        if kind == "variable":
            return self.variable_type(node)
        if kind == "command":
            return self._new_object_type(node)
        if kind in ("member_access", "invokation_expression"):
            return self._member_type(node, kind, depth)
        return None

    def _member_type(self, node: Node, kind: str, depth: int) -> str | None:
        """The type of ``$x.P`` / ``[T]::P`` / ``$x.M(...)`` when exactly one member overload decides it."""
        member = ps.member_name(node)
        if member is None or not self._simple_member(node):
            return None
        receiver = node.children[0]
        if ps.is_static_access(node):
            if receiver.type != "type_literal":
                return None
            owner = self._literal_name(receiver)
            static = True
        else:
            owner = self.infer(receiver, depth + 1)
            static = False
        if owner is None or owner.endswith("]") or self._adapted(owner):
            return None  # an adapted object's member may be a key or a child element
        if kind == "invokation_expression":
            arity = self.call_arity(node)
            returns = {
                m.returns
                for m in self.api.methods(owner, member, static=static)
                if m.accepts(arity)
            }
        else:
            values = self.api.values(owner, member, static=static)
            # A property's setter carries no type: its getter's says what it holds.
            returns = {v.type for v in values if v.type is not None} or {None}
        if len(returns) == 1:
            only = returns.pop()
            if only is None or only in ("System.Void", "System.Object"):
                return None
            return only
        return None

    def _new_object_type(self, node: Node) -> str | None:
        if (ps.command_name(node) or "").lower() != "new-object":
            return None
        type_arg, _ = self._new_object_parts(node)
        if type_arg is None:
            return None
        return self.resolve(ps.text(type_arg).strip("'\""))

    @staticmethod
    def _new_object_parts(node: Node) -> tuple[Node | None, list[Node] | None]:
        """(type argument, argument nodes) of a New-Object command; (None, None) for COM."""
        args = ps.command_arguments(node)
        type_arg: Node | None = None
        values: list[Node] | None = None
        positional: list[Node] = []
        index = 0
        while index < len(args):
            arg = args[index]
            if arg.type == "command_parameter":
                param = ps.text(arg).lower().rstrip(":")
                value = args[index + 1] if index + 1 < len(args) else None
                if "-comobject".startswith(param) and len(param) > 2:
                    return None, None
                if "-typename".startswith(param) and len(param) > 1 and value is not None:
                    type_arg = value
                elif value is not None and (
                    ("-argumentlist".startswith(param) and len(param) > 1) or param == "-args"
                ):
                    values = [value]
                index += 2
                continue
            positional.append(arg)
            index += 1
        if type_arg is None and positional:
            type_arg = positional.pop(0)
        if values is None and positional:
            values = positional
        return type_arg, values if values is not None else []

    @staticmethod
    def _simple_member(node: Node) -> bool:
        for child in node.children:
            if child.type == "member_name":
                return all(c.type == "simple_name" for c in child.named_children)
        return False

    # --------------------------------------------------------------- checks

    def check(self, source: str) -> Report:
        tree = ps.parse(source)
        for node in ps.walk(tree.root_node):
            kind = node.type
            if kind == "type_literal":
                parent = node.parent
                if (
                    parent is not None
                    and parent.type in ("member_access", "invokation_expression")
                    and parent.children[0] == node
                ):
                    continue  # checked with its member
                self.literal_type(node)
            elif kind in ("member_access", "invokation_expression"):
                self._check_member(node)
            elif kind == "command" and (ps.command_name(node) or "").lower() == "new-object":
                self._check_new_object(node)
            elif kind == "command" and (ps.command_name(node) or "").lower() == "add-type":
                self._check_add_type(node)
        return self.report

    def _check_new_object(self, node: Node) -> None:
        type_arg, values = self._new_object_parts(node)
        if type_arg is None or values is None:
            return
        written = ps.text(type_arg).strip("'\"")
        if ps.unwrap(type_arg).type not in ("generic_token", "string_literal") or "$" in written:
            return
        resolved = self.resolve(written)
        if resolved is None:
            self._flag("type", node, f"New-Object: no type {written!r} in .NET 2.0/3.5")
            return
        for argument in _generic_arguments(written):
            if self.resolve(argument) is None:
                self._flag("type", node, f"New-Object: no type {argument!r} in .NET 2.0/3.5")
                return
        self.report.types.add(resolved.split("[")[0])
        if len(values) == 0:
            arity: int | None = 0
        elif len(values) == 1:
            arity = self.value_count(values[0])
        else:
            arity = None  # several positional values: New-Object would fail to bind
        self.report.ctors.append((resolved, arity))
        if resolved.endswith("]") or resolved in PS_TYPES or arity is None:
            return
        info = self.api.get(resolved)
        assert info is not None
        if arity == 0 and self._is_value_type(resolved):
            return  # a struct always has its default constructor
        if not any(m.accepts(arity) for m in info.ctors):
            counts = sorted({m.params for m in info.ctors})
            self._flag(
                "ctor",
                node,
                f"{resolved} has no public constructor taking {arity} argument(s) "
                f"in .NET 2.0/3.5 (it has: {counts})",
            )

    def _check_add_type(self, node: Node) -> None:
        args = ps.command_arguments(node)
        for index, arg in enumerate(args[:-1]):
            param = ps.text(arg).lower().rstrip(":")
            if (
                arg.type == "command_parameter"
                and "-assemblyname".startswith(param)
                and len(param) > 2
            ):
                value = ps.unwrap(args[index + 1])
                items = (
                    value.named_children if value.type == "array_literal_expression" else [value]
                )
                for item in items:
                    name = ps.string_value(item)
                    if ps.unwrap(item).type == "generic_token":
                        name = ps.text(item)
                    if name is not None:
                        self._check_assembly_name(node, name)

    def _check_assembly_load(self, node: Node) -> None:
        for child in node.children:
            if child.type == "argument_list":
                items = self.arguments(child)
                if len(items) == 1:
                    name = ps.string_value(items[0])
                    if name is not None:
                        self._check_assembly_name(node, name)

    def _check_assembly_name(self, node: Node, display: str) -> None:
        """``Name[, Version=a.b.c.d, ...]``: a .NET 2.0/3.5 framework assembly of that version."""
        parts = [p.strip() for p in display.split(",")]
        name = parts[0]
        self.report.assemblies.append(display)
        if name.lower() in PS_ASSEMBLIES:
            return
        have = self.api.versions.get(name.lower())
        if have is None:
            self._flag("assembly", node, f"{name!r} is not a .NET Framework 2.0/3.5 assembly")
            return
        for part in parts[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "version" and value.strip() != have:
                self._flag(
                    "assembly",
                    node,
                    f"{name} {value.strip()} is not the .NET 2.0/3.5 one (that is {have})",
                )

    def _adapted(self, name: str) -> bool:
        """A type whose members are not all in metadata (PowerShell's, adapted, opaque)."""
        return (
            name in PS_TYPES
            or name in OPAQUE_TYPES
            or any(self.api.is_a(name, t) for t in ADAPTED_TYPES)
        )

    def _is_value_type(self, name: str) -> bool:
        return self.api.is_a(name, "System.ValueType")

    def _check_member(self, node: Node) -> None:
        member = ps.member_name(node)
        if member is None or not self._simple_member(node):
            return
        receiver = node.children[0]
        call = node.type == "invokation_expression"
        arity = self.call_arity(node) if call else None
        if ps.is_static_access(node):
            if receiver.type != "type_literal":
                return  # $type::Name: the type is a value
            if member.lower() == "new":
                self._flag("::new", node, "::new() is PowerShell 5; use New-Object")
                self.literal_type(receiver)
                return
            owner = self.literal_type(receiver)
            if owner is None:
                return
            self._check_static(node, owner, member, arity)
            return
        owner = self.infer(receiver)
        if owner is None:
            self.report.unchecked_members += 1
            return
        self._check_instance(node, owner, member, arity)

    def _check_static(self, node: Node, owner: str, member: str, arity: int | None) -> None:
        if owner in PS_TYPES:
            allowed = PS_TYPES[owner]
            if member.lower() not in allowed or (
                arity is not None
                and allowed[member.lower()]
                and arity not in allowed[member.lower()]
            ):
                self._flag(
                    "static-call" if arity is not None else "static-member",
                    node,
                    f"{owner}::{member} is not a PowerShell 2.0 member (as modelled)",
                )
            if arity is None:
                self.report.static_members.append((owner, member))
            else:
                self.report.static_calls.append((owner, member, arity))
            return
        if owner.endswith("]"):
            owner = "System.Array"
        methods = self.api.methods(owner, member, static=True)
        if arity is None:
            self.report.static_members.append((owner, member))
            if not methods and not self.api.values(owner, member, static=True):
                self._flag(
                    "static-member",
                    node,
                    f"{owner} has no public static member {member!r} in .NET 2.0/3.5",
                )
            return
        self.report.static_calls.append((owner, member, arity))
        if owner == "System.Reflection.Assembly" and member.lower() in _LOAD_BY_NAME:
            self._check_assembly_load(node)
        if not methods:
            self._flag(
                "static-call",
                node,
                f"{owner} has no public static method {member!r} in .NET 2.0/3.5",
            )
        elif not any(m.accepts(arity) for m in methods):
            counts = sorted({m.params for m in methods})
            self._flag(
                "static-call",
                node,
                f"no overload of {owner}::{member} takes {arity} argument(s) in .NET "
                f"2.0/3.5 (overloads take {counts})",
            )

    def _check_instance(self, node: Node, owner: str, member: str, arity: int | None) -> None:
        low = member.lower()
        if low in INTRINSIC_MEMBERS:
            return
        lookup = "System.Array" if owner.endswith("]") else owner
        if self._adapted(lookup):
            self.report.unchecked_members += 1
            return
        self.report.instance_members.append((lookup, member, arity))
        for info in self.api.lineage(lookup):
            if low in ETS_MEMBERS.get(info.full_name, set()):
                return
        methods = self.api.methods(lookup, member, static=False)
        values = self.api.values(lookup, member, static=False)
        # The check uses the declared type: a member only a derived class has needs a cast.
        hint = f" (the value's declared type is {lookup}; cast it if it is a derived type)"
        if arity is None:
            if not methods and not values:
                self._flag(
                    "member",
                    node,
                    f"{lookup} has no public member {member!r} in .NET 2.0/3.5" + hint,
                )
            return
        if not methods:
            self._flag(
                "call", node, f"{lookup} has no public method {member!r} in .NET 2.0/3.5" + hint
            )
        elif not any(m.accepts(arity) for m in methods):
            counts = sorted({m.params for m in methods})
            self._flag(
                "call",
                node,
                f"no overload of {lookup}.{member} takes {arity} argument(s) in .NET "
                f"2.0/3.5 (overloads take {counts})",
            )


def check(source: str, api: ApiModel) -> Report:
    return Checker(api).check(source)


def embedded_scripts(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each single-quoted here-string that is PowerShell itself
    (it parses cleanly and names a command or a type): scripts the agent writes out."""
    tree = ps.parse(source)
    for node in ps.walk(tree.root_node):
        if node.type != "string_literal" or not ps.text(node).startswith("@'"):
            continue
        value = ps.string_value(node)
        if value is None or ps.syntax_errors(value):
            continue
        inner = ps.parse(value)
        if any(n.type in ("command", "type_literal") for n in ps.walk(inner.root_node)):
            yield _line(node), value
