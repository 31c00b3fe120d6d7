"""The parse tree, node for node as in Go's `text/template/parse/node.go`.

Every node keeps `pos`, its character offset in the template text, so errors can name a line and
column. `str(node)` renders the node back to template syntax, as Go does in its error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from core.templating.goprint import go_quote


@dataclass(slots=True)
class TextNode:
    pos: int
    text: str

    def __str__(self) -> str:
        return go_quote(self.text)


@dataclass(slots=True)
class DotNode:
    pos: int

    def __str__(self) -> str:
        return "."


@dataclass(slots=True)
class NilNode:
    pos: int

    def __str__(self) -> str:
        return "nil"


@dataclass(slots=True)
class BoolNode:
    pos: int
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(slots=True)
class NumberNode:
    pos: int
    text: str
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int_value: int = 0
    uint_value: int = 0
    float_value: float = 0.0

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class StringNode:
    pos: int
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(slots=True)
class IdentifierNode:
    pos: int
    ident: str

    def __str__(self) -> str:
        return self.ident


@dataclass(slots=True)
class VariableNode:
    pos: int
    ident: list[str]  # "$x" then any fields, without dots

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(slots=True)
class FieldNode:
    pos: int
    ident: list[str]  # field names without dots

    def __str__(self) -> str:
        return "".join("." + name for name in self.ident)


@dataclass(slots=True)
class ChainNode:
    pos: int
    node: Node
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + name for name in self.fields)


@dataclass(slots=True)
class CommandNode:
    pos: int
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({arg})" if isinstance(arg, PipeNode) else str(arg) for arg in self.args)


@dataclass(slots=True)
class PipeNode:
    pos: int
    decl: list[VariableNode] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(slots=True)
class ActionNode:
    pos: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(slots=True)
class ListNode:
    pos: int
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(slots=True)
class BranchNode:
    """An {{if}}, {{range}} or {{with}}: `keyword` says which."""

    pos: int
    keyword: str
    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            text += "{{else}}" + str(self.else_list)
        return text + "{{end}}"


@dataclass(slots=True)
class TemplateNode:
    pos: int
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        pipe = "" if self.pipe is None else " " + str(self.pipe)
        return "{{template " + go_quote(self.name) + pipe + "}}"


@dataclass(slots=True)
class BreakNode:
    pos: int

    def __str__(self) -> str:
        return "{{break}}"


@dataclass(slots=True)
class ContinueNode:
    pos: int

    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(slots=True)
class EndNode:
    """An {{end}}; it closes a list and never appears in a finished tree."""

    pos: int

    def __str__(self) -> str:
        return "{{end}}"


@dataclass(slots=True)
class ElseNode:
    """An {{else}}; it splits a branch and never appears in a finished tree."""

    pos: int

    def __str__(self) -> str:
        return "{{else}}"


Node = Union[  # noqa: UP007 - a runtime alias that the dataclasses above refer to
    TextNode,
    DotNode,
    NilNode,
    BoolNode,
    NumberNode,
    StringNode,
    IdentifierNode,
    VariableNode,
    FieldNode,
    ChainNode,
    CommandNode,
    PipeNode,
    ActionNode,
    ListNode,
    BranchNode,
    TemplateNode,
    BreakNode,
    ContinueNode,
    EndNode,
    ElseNode,
]


def is_empty_tree(node: Node) -> bool:
    """Go's IsEmptyTree: nothing but space and comments."""
    if isinstance(node, ListNode):
        return all(is_empty_tree(n) for n in node.nodes)
    if isinstance(node, TextNode):
        return not node.text.strip(" \t\r\n\v\f")
    return False
