"""Statements: text, actions, if/with/range/break/continue and template calls, with output limits.

Walks a parse tree as Go's `exec.go` does. Limits (steps, output size, template recursion) turn
runaway templates into errors instead of hangs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.templating.evaluator import Evaluator, ExecFailure, Limits
from core.templating.funcs import GoFunction
from core.templating.nodes import (
    ActionNode,
    BranchNode,
    BreakNode,
    ContinueNode,
    ListNode,
    Node,
    TemplateNode,
    TextNode,
)
from core.templating.values import NIL, dig, format_value, is_int, is_true, sorted_items


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


__all__ = ["ExecFailure", "Executor", "Limits"]


class Executor(Evaluator):
    """Renders a template: `execute(name, data)` returns the text."""

    def __init__(self, trees: Mapping[str, ListNode], functions: Mapping[str, GoFunction], limits: Limits) -> None:
        super().__init__(trees, functions, limits)
        self.out: list[str] = []
        self.size = 0

    def execute(self, name: str, data: Any) -> str:
        self.vars = [("$", data)]
        self.walk(data, self.trees[name])
        return "".join(self.out)

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limits.max_output:
            raise self.error(f"rendered output is longer than {self.limits.max_output} characters")
        self.out.append(text)

    # -- walking --------------------------------------------------------------------------------
    def walk(self, dot: Any, node: Node) -> None:
        self.at(node)
        if isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, TextNode):
            self.write(node.text)
        elif isinstance(node, ActionNode):
            self.step()
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, BranchNode):
            if node.keyword == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        else:
            raise self.error(f"unknown node: {node}")

    def print_value(self, node: Node, value: Any) -> None:
        self.at(node)
        value = dig(value)
        if value is None:
            self.write("<no value>")
        elif callable(value) and not isinstance(value, Mapping | list | tuple | str):
            raise self.error(f"can't print {node} of type func")
        else:
            self.write(format_value(value))

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            truth, ok = is_true(value)
            if not ok:
                raise self.error(f"if/with can't use {format_value(value)}", node)
            if truth:
                self.walk(value if node.keyword == "with" else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: BranchNode) -> None:
        self.at(node)
        outer = len(self.vars)
        try:
            value = dig(self.eval_pipeline(dot, node.pipe))
            mark = len(self.vars)
            items: Iterable[tuple[Any, Any]]
            if isinstance(value, list | tuple):
                items = enumerate(value)
            elif isinstance(value, Mapping):
                items = sorted_items(value)
            elif is_int(value):
                if len(node.pipe.decl) > 1:
                    raise self.error(f"can't use {value} to iterate over more than one variable", node)
                items = ((i, i) for i in range(value))
            elif value is None:
                items = ()
            else:
                raise self.error(f"range can't iterate over {format_value(value)}", node)
            empty = True
            for index, elem in items:
                empty = False
                self.range_iteration(node, mark, index, NIL if elem is None else elem)
            if empty and node.else_list is not None:
                self.walk(dot, node.else_list)
        except _Break:
            pass
        finally:
            del self.vars[outer:]

    def range_iteration(self, node: BranchNode, mark: int, index: Any, elem: Any) -> None:
        self.step()
        decl = node.pipe.decl
        if decl:
            if node.pipe.is_assign:
                self.set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
            else:
                self.vars[-1] = (self.vars[-1][0], elem)
        if len(decl) > 1:
            if node.pipe.is_assign:
                self.set_var(decl[1].ident[0], elem)
            else:
                self.vars[-2] = (self.vars[-2][0], index)
        try:
            self.walk(elem, node.list)
        except _Continue:
            pass
        finally:
            del self.vars[mark:]

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        self.at(node)
        tree = self.trees.get(node.name)
        if tree is None:
            known = ", ".join(f'"{n}"' for n in sorted(self.trees))
            raise self.error(f'template "{node.name}" not defined; defined templates are: {known}', node)
        if self.depth >= self.limits.max_template_depth:
            raise self.error(f"exceeded maximum template depth ({self.limits.max_template_depth})", node)
        value = dig(self.eval_pipeline(dot, node.pipe))
        saved = self.vars
        self.vars = [("$", value)]
        self.depth += 1
        try:
            self.walk(value, tree)
        finally:
            self.depth -= 1
            self.vars = saved

    # -- variables ------------------------------------------------------------------------------
