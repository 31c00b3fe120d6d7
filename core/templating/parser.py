"""The parser: tokens to a tree of nodes, as Go's `text/template/parse/parse.go` does it.

Checks made here, as in Go: functions must exist, variables must be declared before use,
`{{break}}`/`{{continue}}` must be inside `{{range}}`, and every control action needs its `{{end}}`.
`{{define}}` and `{{block}}` add named templates to the returned set. Nesting is bounded so a
hostile template cannot exhaust the Python stack.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from core.templating.diagnostics import HINTS, LEX_HINTS, ParseFailure, suggest
from core.templating.lexer import lex
from core.templating.literals import LiteralError, number_node, unquote
from core.templating.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    is_empty_tree,
)
from core.templating.tokens import KEYWORD_TOKENS, OPERAND_STARTS, Tok, Token, TokenReader

MAX_NESTING = 100


class _Parser(TokenReader):
    def __init__(
        self, text: str, functions: Collection[str], trees: dict[str, ListNode], unavailable: Mapping[str, str]
    ) -> None:
        super().__init__(lex(text, break_ok="break" not in functions, continue_ok="continue" not in functions))
        self.functions = functions
        self.unavailable = unavailable
        self.trees = trees
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.depth = 0
        self.action_pos = -1
        self.open: list[tuple[str, int]] = []

    # -- errors ---------------------------------------------------------------------------------
    def fail(self, pos: int, message: str) -> ParseFailure:
        return ParseFailure(pos, message)

    def unexpected(self, token: Token, context: str) -> ParseFailure:
        if token.typ is Tok.ERROR:
            hint = next((h for prefix, h in LEX_HINTS.items() if token.val.startswith(prefix)), "")
            pos = self.action_pos if token.val == "unclosed action" and self.action_pos >= 0 else token.pos
            return self.fail(pos, token.val + (f"; {hint}" if hint else ""))
        if token.typ is Tok.EOF and self.open:
            keyword, pos = self.open[-1]
            return self.fail(pos, f"unexpected EOF: {{{{{keyword}}}}} is never closed; end it with {{{{end}}}}")
        hint = HINTS.get(context, "")
        return self.fail(token.pos, f"unexpected {token.describe()} in {context}" + (f"; {hint}" if hint else ""))

    def expect(self, typ: Tok, context: str) -> Token:
        token = self.next_non_space()
        if token.typ is not typ:
            raise self.unexpected(token, context)
        return token

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(pos, f"template nests more than {MAX_NESTING} levels deep; flatten it")

    # -- structure ------------------------------------------------------------------------------
    def parse(self) -> ListNode:
        root = ListNode(self.peek().pos)
        while self.peek().typ is not Tok.EOF:
            if self.peek().typ is Tok.LEFT_DELIM:
                start = self.index
                delim = self.next()
                if self.next_non_space().typ is Tok.DEFINE:
                    self.parse_definition(delim.pos)
                    continue
                self.index = start
            node = self.text_or_action()
            if isinstance(node, EndNode | ElseNode):
                raise self.fail(
                    node.pos, f"unexpected {node}; there is no {{{{if}}}}, {{{{range}}}} or {{{{with}}}} open"
                )
            root.nodes.append(node)
        return root

    def parse_definition(self, pos: int) -> None:
        token = self.next_non_space()
        if token.typ not in (Tok.STRING, Tok.RAW_STRING):
            raise self.unexpected(token, "define clause")
        name = self.unquote(token)
        self.expect(Tok.RIGHT_DELIM, "define clause")
        saved_vars, self.vars = self.vars, ["$"]
        self.open.append(("define", pos))
        body, end = self.item_list()
        self.open.pop()
        self.vars = saved_vars
        if not isinstance(end, EndNode):
            raise self.fail(end.pos, f"unexpected {end} in define clause")
        self.add_tree(name, body, pos)

    def add_tree(self, name: str, body: ListNode, pos: int) -> None:
        existing = self.trees.get(name)
        if existing is not None and not is_empty_tree(existing) and not is_empty_tree(body):
            raise self.fail(pos, f'template: multiple definition of template "{name}"')
        if existing is None or is_empty_tree(existing):
            self.trees[name] = body

    def item_list(self) -> tuple[ListNode, Node]:
        nodes = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ is not Tok.EOF:
            node = self.text_or_action()
            if isinstance(node, EndNode | ElseNode):
                return nodes, node
            nodes.nodes.append(node)
        raise self.unexpected(self.peek_non_space(), "input")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.typ is Tok.TEXT:
            return TextNode(token.pos, token.val)
        if token.typ is Tok.LEFT_DELIM:
            saved, self.action_pos = self.action_pos, token.pos
            try:
                return self.action(token.pos)
            finally:
                self.action_pos = saved
        raise self.unexpected(token, "input")

    def action(self, pos: int) -> Node:  # noqa: PLR0911
        token = self.next_non_space()
        typ = token.typ
        if typ is Tok.BLOCK:
            return self.block_control(pos)
        if typ in (Tok.BREAK, Tok.CONTINUE):
            end = self.next_non_space()
            if end.typ is not Tok.RIGHT_DELIM:
                raise self.unexpected(end, "{{" + token.val + "}}")
            if self.range_depth == 0:
                raise self.fail(token.pos, f"{{{{{token.val}}}}} outside {{{{range}}}}; use it only inside a range")
            return BreakNode(token.pos) if typ is Tok.BREAK else ContinueNode(token.pos)
        if typ is Tok.ELSE:
            return self.else_control(pos)
        if typ is Tok.END:
            self.expect(Tok.RIGHT_DELIM, "end")
            return EndNode(pos)
        if typ in (Tok.IF, Tok.RANGE, Tok.WITH):
            return self.branch(token.val, pos)
        if typ is Tok.TEMPLATE:
            return self.template_control()
        self.backup()
        start = self.peek()
        return ActionNode(start.pos, self.pipeline("command", Tok.RIGHT_DELIM))

    def else_control(self, pos: int) -> ElseNode:
        if self.peek_non_space().typ not in (Tok.IF, Tok.WITH):
            self.expect(Tok.RIGHT_DELIM, "else")
        return ElseNode(pos)

    def branch(self, keyword: str, pos: int) -> BranchNode:
        self.nest(pos)
        mark = len(self.vars)
        pipe = self.pipeline(keyword, Tok.RIGHT_DELIM)
        self.open.append((keyword, pos))
        if keyword == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if keyword == "range":
            self.range_depth -= 1
        else_list: ListNode | None = None
        if isinstance(nxt, ElseNode):
            chained = keyword in ("if", "with") and self.peek_non_space().typ is KEYWORD_TOKENS[keyword]
            if chained:
                self.next_non_space()
                else_list = ListNode(nxt.pos, [self.branch(keyword, nxt.pos)])
            else:
                else_list, end = self.item_list()
                if not isinstance(end, EndNode):
                    raise self.fail(end.pos, f"expected end; found {end}")
        self.open.pop()
        del self.vars[mark:]
        self.depth -= 1
        return BranchNode(pipe.pos, keyword, pipe, body, else_list)

    def template_name(self, token: Token, context: str) -> str:
        if token.typ not in (Tok.STRING, Tok.RAW_STRING):
            raise self.unexpected(token, context)
        return self.unquote(token)

    def template_control(self) -> TemplateNode:
        token = self.next_non_space()
        name = self.template_name(token, "template clause")
        pipe: PipeNode | None = None
        if self.next_non_space().typ is not Tok.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline("template clause", Tok.RIGHT_DELIM)
        return TemplateNode(token.pos, name, pipe)

    def block_control(self, pos: int) -> TemplateNode:
        token = self.next_non_space()
        name = self.template_name(token, "block clause")
        pipe = self.pipeline("block clause", Tok.RIGHT_DELIM)
        saved_vars, saved_range = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        self.open.append(("block", pos))
        body, end = self.item_list()
        self.open.pop()
        self.vars, self.range_depth = saved_vars, saved_range
        if not isinstance(end, EndNode):
            raise self.fail(end.pos, f"unexpected {end} in block clause")
        self.add_tree(name, body, pos)
        return TemplateNode(token.pos, name, pipe)

    # -- pipelines ------------------------------------------------------------------------------
    def pipeline(self, context: str, end: Tok) -> PipeNode:
        pipe = PipeNode(self.peek_non_space().pos)
        self.declarations(pipe, context)
        while True:
            token = self.next_non_space()
            if token.typ is end:
                self.check_pipeline(pipe, context, token)
                return pipe
            if token.typ in OPERAND_STARTS:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def declarations(self, pipe: PipeNode, context: str) -> None:
        while True:
            variable = self.peek_non_space()
            if variable.typ is not Tok.VARIABLE:
                return
            start = self.index
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.typ in (Tok.ASSIGN, Tok.DECLARE):
                pipe.is_assign = nxt.typ is Tok.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(variable.pos, variable.val.split(".")))
                self.vars.append(variable.val)
                return
            if nxt.typ is Tok.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(variable.pos, variable.val.split(".")))
                self.vars.append(variable.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (Tok.VARIABLE, Tok.RIGHT_DELIM, Tok.RIGHT_PAREN):
                        continue
                    raise self.fail(nxt.pos, "range can only initialize variables")
                raise self.fail(nxt.pos, f"too many declarations in {context}")
            self.index = start
            return

    def check_pipeline(self, pipe: PipeNode, context: str, token: Token) -> None:
        if not pipe.cmds:
            raise self.fail(token.pos, f"missing value for {context}")
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            first = cmd.args[0]
            if isinstance(first, BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.fail(
                    first.pos,
                    f"non executable command in pipeline stage {stage}; after | comes a function, "
                    "field or method that takes the piped value",
                )

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ is Tok.SPACE:
                continue
            if token.typ in (Tok.RIGHT_DELIM, Tok.RIGHT_PAREN):
                self.backup()
            elif token.typ is not Tok.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.fail(cmd.pos, "empty command; put a value or function between the |")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ is Tok.FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().typ is Tok.FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(node.pos, node.ident + chain.fields)
            if isinstance(node, VariableNode):
                return VariableNode(node.pos, node.ident + chain.fields)
            if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
                raise self.fail(chain.pos, f"unexpected . after term {str(node)!r}")
            return chain
        return node

    def term(self) -> Node | None:  # noqa: PLR0911
        token = self.next_non_space()
        typ = token.typ
        if typ is Tok.IDENTIFIER:
            if token.val not in self.functions:
                raise self.fail(token.pos, f'function "{token.val}" not defined' + self.function_hint(token.val))
            return IdentifierNode(token.pos, token.val)
        if typ is Tok.DOT:
            return DotNode(token.pos)
        if typ is Tok.NIL:
            return NilNode(token.pos)
        if typ is Tok.VARIABLE:
            name = token.val.split(".")[0]
            if name not in self.vars:
                raise self.fail(
                    token.pos,
                    f'undefined variable "{name}"; declare it first, e.g. {{{{ {name} := ... }}}}'
                    + suggest(name, [v for v in self.vars if v != "$"]),
                )
            return VariableNode(token.pos, token.val.split("."))
        if typ is Tok.FIELD:
            return FieldNode(token.pos, token.val[1:].split("."))
        if typ is Tok.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if typ in (Tok.CHAR_CONSTANT, Tok.COMPLEX, Tok.NUMBER):
            try:
                return number_node(token.pos, token.val, char=typ is Tok.CHAR_CONSTANT)
            except LiteralError as error:
                raise self.fail(token.pos, str(error)) from None
        if typ is Tok.LEFT_PAREN:
            self.nest(token.pos)
            pipe = self.pipeline("parenthesized pipeline", Tok.RIGHT_PAREN)
            self.depth -= 1
            return pipe
        if typ in (Tok.STRING, Tok.RAW_STRING):
            return StringNode(token.pos, token.val, self.unquote(token))
        self.backup()
        return None

    def function_hint(self, name: str) -> str:
        if name in self.unavailable:
            return f"; {self.unavailable[name]}"
        hint = suggest(name, self.functions)
        if hint:
            return hint
        return "; use a Go template builtin (such as printf, index, eq) or a Sprig function"

    def unquote(self, token: Token) -> str:
        try:
            return unquote(token.val)
        except LiteralError as error:
            raise self.fail(token.pos, f"{error} in string {token.val}") from None


def parse(
    text: str, name: str, functions: Collection[str], unavailable: Mapping[str, str] | None = None
) -> dict[str, ListNode]:
    """Parse `text` as the template `name`; returns it and every template it defines.

    `unavailable` explains functions that exist elsewhere but not here (name -> why).
    """
    trees: dict[str, ListNode] = {}
    parser = _Parser(text, functions, trees, unavailable or {})
    root = parser.parse()
    parser.add_tree(name, root, 0)
    return trees
