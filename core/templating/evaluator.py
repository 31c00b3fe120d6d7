"""Expressions: pipelines, commands, field chains, variables and function calls.

As in Go's `exec.go`: a pipeline passes each command's value to the next as its last argument;
`and`/`or` short-circuit and return the deciding value; a missing map key yields the interface
zero value (`missingkey=zero`), which prints `<no value>` but whose fields cannot be read; and
arguments are checked against the function's Go parameter types before the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.templating.arguments import ArgumentError, ideal_constant, literal_argument, validate_type
from core.templating.funcs import GoFunction, GoType
from core.templating.nodes import (
    BoolNode,
    ChainNode,
    CommandNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    VariableNode,
)
from core.templating.values import NIL, StrMap, dig, go_type, is_true


@dataclass(frozen=True)
class Limits:
    """Bounds that stop runaway templates; all far above what task files need."""

    max_output: int = 8 * 1024 * 1024  # characters of rendered text, and of any one value
    max_steps: int = 1_000_000  # actions, commands and loop iterations
    max_template_depth: int = 50  # nested {{template}} calls


class ExecFailure(Exception):
    """An execution error at a node; the caller adds the file name, line and column."""

    def __init__(self, pos: int, context: str, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.context = context
        self.message = message


_MISSING: Any = object()  # "no value piped in", distinct from nil


class Evaluator:
    """Evaluates expressions against the data; `Executor` adds statements and output."""

    def __init__(
        self,
        trees: Mapping[str, ListNode],
        functions: Mapping[str, GoFunction],
        limits: Limits,
    ) -> None:
        self.trees = trees
        self.functions = functions
        self.limits = limits
        self.vars: list[tuple[str, Any]] = []
        self.steps = 0
        self.depth = 0
        self.node: Node | None = None

    def error(self, message: str, node: Node | None = None) -> ExecFailure:
        node = node if node is not None else self.node
        if node is None:
            return ExecFailure(0, "", message)
        context = str(node)
        if len(context) > 60:
            context = context[:57] + "..."
        return ExecFailure(node.pos, context, message)

    def at(self, node: Node) -> None:
        self.node = node

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise self.error(
                f"template takes more than {self.limits.max_steps} steps to render; look for a runaway range"
            )

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.error(f"undefined variable: {name}")

    def var_value(self, name: str) -> Any:
        for var_name, value in reversed(self.vars):
            if var_name == name:
                return value
        raise self.error(f"undefined variable: {name}")

    # -- evaluation -----------------------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: PipeNode | None) -> Any:
        if pipe is None:
            return None
        self.at(pipe)
        value = _MISSING
        for cmd in pipe.cmds:
            value = dig(self.eval_command(dot, cmd, value))
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.vars.append((variable.ident[0], value))
        return value

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.error(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:  # noqa: PLR0911
        self.step()
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.error("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        raise self.error(f"can't evaluate command {first}")

    def ideal_constant(self, number: NumberNode) -> Any:
        self.at(number)
        try:
            return ideal_constant(number)
        except ArgumentError as error:
            raise self.error(str(error)) from None

    def eval_field_node(self, dot: Any, field: FieldNode, args: list[Node] | None, final: Any) -> Any:
        self.at(field)
        return self.eval_field_chain(dot, field, field.ident, args, final)

    def eval_chain_node(self, dot: Any, chain: ChainNode, args: list[Node] | None, final: Any) -> Any:
        self.at(chain)
        if isinstance(chain.node, NilNode):
            raise self.error(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(receiver, chain, chain.fields, args, final)

    def eval_variable_node(self, dot: Any, variable: VariableNode, args: list[Node] | None, final: Any) -> Any:
        self.at(variable)
        value = self.var_value(variable.ident[0])
        if len(variable.ident) == 1:
            self.not_a_function(args or [variable], final)
            return value
        return self.eval_field_chain(value, variable, variable.ident[1:], args, final)

    def eval_field_chain(self, receiver: Any, node: Node, names: list[str], args: list[Node] | None, final: Any) -> Any:
        for name in names[:-1]:
            receiver = self.eval_field(name, node, None, _MISSING, receiver)
        return self.eval_field(names[-1], node, args, final, receiver)

    def eval_field(self, name: str, node: Node, args: list[Node] | None, final: Any, receiver: Any) -> Any:
        if receiver is None:
            return None  # A field of nothing is nothing (Go's missingkey=zero on invalid values).
        if receiver is NIL:
            raise self.error(
                f"nil pointer evaluating interface {{}}.{name}; the value holding .{name} is missing "
                f"or null, so test it first with {{{{if}}}} or {{{{with}}}}",
                node,
            )
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(receiver, Mapping):
            if has_args:
                raise self.error(f"{name} is not a method but has arguments", node)
            if isinstance(receiver, StrMap):
                return receiver.get(name, "")
            value = receiver.get(name)
            return NIL if value is None else value
        raise self.error(f"can't evaluate field {name} in type {go_type(receiver)}", node)

    def eval_function(self, dot: Any, node: IdentifierNode, cmd: Node, args: list[Node] | None, final: Any) -> Any:
        self.at(node)
        function = self.functions.get(node.ident)
        if function is None:
            raise self.error(f'"{node.ident}" is not a defined function')
        return self.eval_call(dot, function, cmd, args, final)

    def eval_call(self, dot: Any, function: GoFunction, node: Node, args: list[Node] | None, final: Any) -> Any:
        name = function.name
        args = args[1:] if args is not None else []
        num_in = len(args) + (0 if final is _MISSING else 1)
        params = function.params
        usage = f"; usage: {function.describe_usage()} (a piped value is the last argument)"
        if function.variadic is not None:
            num_fixed = len(params)
            if num_in < num_fixed:
                raise self.error(f"wrong number of args for {name}: want at least {num_fixed} got {len(args)}" + usage)
        elif num_in != len(params):
            raise self.error(f"wrong number of args for {name}: want {len(params)} got {num_in}" + usage)
        else:
            num_fixed = len(params)
        if function.builtin and name in ("and", "or"):
            value: Any = None
            for arg in args:
                value = self.eval_arg(dot, GoType.VALUE, arg)
                if is_true(value)[0] == (name == "or"):
                    return value
            if final is not _MISSING:
                value = self.validate_type(final, GoType.VALUE)
            return value
        argv: list[Any] = []
        for i, arg in enumerate(args):
            typ = params[i] if i < num_fixed else function.variadic
            argv.append(self.eval_arg(dot, typ, arg))
        if final is not _MISSING:
            fixed = function.variadic is None or num_in - 1 < num_fixed
            typ = params[num_in - 1] if fixed else function.variadic
            argv.append(self.validate_type(final, typ))
        self.at(node)
        try:
            result = function.impl(*argv)
        except RecursionError:
            raise
        except Exception as error:  # FunctionError, or a caller function failing: Go's safeCall reports both
            raise self.error(f"error calling {name}: {error}", node) from None
        self.check_size(name, result, node)
        return result

    def check_size(self, name: str, result: Any, node: Node) -> None:
        if isinstance(result, str | list | tuple | Mapping) and len(result) > self.limits.max_output:
            limit = self.limits.max_output
            raise self.error(f"{name} returned {len(result)} items or characters; the limit is {limit}", node)

    def validate_type(self, value: Any, typ: GoType | None) -> Any:
        try:
            return validate_type(value, typ)
        except ArgumentError as error:
            raise self.error(str(error)) from None

    def eval_arg(self, dot: Any, typ: GoType | None, node: Node) -> Any:  # noqa: PLR0911 - one per node kind
        self.at(node)
        if isinstance(node, DotNode):
            return self.validate_type(dot, typ)
        if isinstance(node, NilNode):
            if typ is not None and typ.can_be_nil:
                return None
            raise self.error(f"cannot assign nil to {typ.value if typ else 'nothing'}")
        if isinstance(node, FieldNode):
            return self.validate_type(self.eval_field_node(dot, node, [node], _MISSING), typ)
        if isinstance(node, VariableNode):
            return self.validate_type(self.eval_variable_node(dot, node, None, _MISSING), typ)
        if isinstance(node, PipeNode):
            return self.validate_type(self.eval_pipeline(dot, node), typ)
        if isinstance(node, IdentifierNode):
            return self.validate_type(self.eval_function(dot, node, node, None, _MISSING), typ)
        if isinstance(node, ChainNode):
            return self.validate_type(self.eval_chain_node(dot, node, None, _MISSING), typ)
        try:
            return literal_argument(node, typ)
        except ArgumentError as error:
            raise self.error(str(error)) from None
