"""The receptive field of a layer's units, computed from the layers between it and the input.

Each unit ``(y, x)`` of a layer sees an axis-aligned window of input pixels. Along one axis the
window of unit ``i`` is ``[lo + i * jump, hi + i * jump]`` (inclusive, may reach outside the
image into the padding). The input has ``jump = 1, lo = hi = 0``; a convolution or pooling with
kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` maps it to::

    jump' = jump * s,   lo' = lo - p * jump,   hi' = hi + ((k - 1) * d - p) * jump

Element-wise layers (BatchNorm, activations, dropout) keep it; where branches meet (residual
``add``, channel ``cat``) the windows are united. The path from input to layer is read from
the model's ``torch.fx`` graph, so branches and the order of calls are the model's own.

This is the theoretical receptive field. Where a strided layer drops the last rows or columns
of its input (``floor`` in its output size), units at the bottom/right border see a little
less than their window.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn

# Modules that keep every position where it is (element-wise or per-channel).
_POINTWISE_MODULES = (
    nn.BatchNorm2d,
    nn.GroupNorm,
    nn.InstanceNorm2d,
    nn.LayerNorm,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
)
_POINTWISE_FUNCTIONS = {
    operator.add,
    operator.mul,
    operator.sub,
    operator.truediv,
    operator.iadd,
    torch.add,
    torch.mul,
    torch.cat,
    torch.relu,
    torch.sigmoid,
    torch.nn.functional.relu,
}
_POINTWISE_METHODS = {"relu", "relu_", "add", "add_", "mul", "mul_", "contiguous", "clone"}
_WINDOW_MODULES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


@dataclass(frozen=True)
class Window:
    """The receptive field of a layer's units along y and x (see the module docstring).

    Attributes:
        jump: (y, x) input pixels between neighbouring units.
        lo, hi: (y, x) inclusive first and last input pixel of unit 0 (lo may be negative).
    """

    jump: tuple[int, int]
    lo: tuple[int, int]
    hi: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of a unit's window in input pixels."""
        return (self.hi[0] - self.lo[0] + 1, self.hi[1] - self.lo[1] + 1)

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """Inclusive input box ``(x0, y0, x1, y1)`` of unit (y, x), not clipped to the image."""
        y0 = self.lo[0] + y * self.jump[0]
        x0 = self.lo[1] + x * self.jump[1]
        return (x0, y0, x0 + self.size[1] - 1, y0 + self.size[0] - 1)

    def through(self, kernel, stride, padding, dilation) -> Window:
        """The window after a layer with these (y, x) parameters."""
        axes = zip(self.jump, self.lo, self.hi, kernel, stride, padding, dilation, strict=True)
        jump, lo, hi = zip(
            *((j * s, lo - p * j, hi + ((k - 1) * d - p) * j) for j, lo, hi, k, s, p, d in axes),
            strict=True,
        )
        return Window(jump=jump, lo=lo, hi=hi)

    def union(self, other: Window) -> Window:
        """The window covering both (same jump required)."""
        if self.jump != other.jump:
            raise ValueError(f"branches meet with different strides {self.jump} and {other.jump}")
        return Window(
            self.jump,
            tuple(min(a, b) for a, b in zip(self.lo, other.lo, strict=True)),
            tuple(max(a, b) for a, b in zip(self.hi, other.hi, strict=True)),
        )


INPUT = Window(jump=(1, 1), lo=(0, 0), hi=(0, 0))


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def layer_parameters(module: nn.Module) -> tuple[tuple[int, int], ...]:
    """(kernel, stride, padding, dilation) as (y, x) pairs of a conv or pooling module."""
    kernel = _pair(module.kernel_size)
    stride = _pair(module.stride)
    dilation = _pair(getattr(module, "dilation", 1))
    padding = module.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{module}: padding='same' with stride {stride}")
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    return kernel, stride, _pair(padding), dilation


def _owners(node: fx.Node) -> set[str]:
    """Names of the modules whose forward produced ``node`` (the module stack of the call)."""
    stack = node.meta.get("nn_module_stack", {})
    return {path for path, _ in stack.values()}


def _trace(model: nn.Module, layer: str) -> tuple[fx.GraphModule, str]:
    """fx-trace the model, or else the outermost traceable module above ``layer``.

    Returns:
        (graph module, the layer's name relative to it).
    """
    parts = layer.split(".")
    errors = []
    for depth in range(len(parts) + 1):
        prefix = ".".join(parts[:depth])
        root = model.get_submodule(prefix) if prefix else model
        try:
            return fx.symbolic_trace(root), ".".join(parts[depth:])
        except Exception as error:  # noqa: BLE001 - the next ancestor may trace
            errors.append(f"{prefix or type(model).__name__}: {type(error).__name__}: {error}")
    raise ValueError(f"cannot trace a module path to {layer!r}: " + "; ".join(errors))


def receptive_field(model: nn.Module, layer: str) -> Window:
    """The receptive field of the units of ``layer``'s output.

    The model (or, when its forward cannot be traced, e.g. because of control flow on the
    labels, the outermost traceable module above the layer, such as ``backbone``) is traced
    with ``torch.fx``; that module must take the image as its first input.

    Args:
        model: the network.
        layer: module name as in ``model.named_modules()``; it must run once per forward.

    Raises:
        ValueError: the layer runs more than once, is not in the traced graph, or a layer on
            its path changes positions in a way not modelled here (interpolation, linear
            layers, adaptive pooling), named.
    """
    graph_module, local = _trace(model, layer)
    calls = [n for n in graph_module.graph.nodes if n.op == "call_module" and n.target == local]
    if len(calls) > 1:
        raise ValueError(f"module {layer!r} runs {len(calls)} times per forward pass")
    # node -> its Window, or a description of the first unmodelled op on its path.
    windows: dict[fx.Node, Window | str] = {}
    target_node = None
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if not windows:
                windows[node] = INPUT
            continue
        if node.op == "output":
            if not local:  # the traced module is the layer itself
                target_node = node.all_input_nodes[0]
            break
        inputs = [windows[a] for a in node.all_input_nodes if a in windows]
        if not inputs:
            continue  # constants, parameters, or nodes that do not depend on the image
        windows[node] = _propagate(graph_module, node, inputs)
        if local and (local in _owners(node) or node.target == local):
            target_node = node
    if target_node is None or target_node not in windows:
        raise ValueError(f"{layer!r} is not on the traced forward path of the image")
    window = windows[target_node]
    if isinstance(window, str):
        raise ValueError(f"{layer!r}: the receptive field through {window} is not modelled")
    return window


def _propagate(graph_module: fx.GraphModule, node: fx.Node, inputs: list) -> Window | str:
    """The window of ``node``'s output from its inputs' windows."""
    unknown = [w for w in inputs if isinstance(w, str)]
    if unknown:
        return unknown[0]
    window = inputs[0]
    for other in inputs[1:]:
        window = window.union(other)
    if node.op == "call_module":
        module = graph_module.get_submodule(node.target)
        if isinstance(module, _WINDOW_MODULES):
            return window.through(*layer_parameters(module))
        if isinstance(module, _POINTWISE_MODULES):
            return window
        return f"module {node.target} ({type(module).__name__})"
    if node.op == "call_function" and node.target not in _POINTWISE_FUNCTIONS:
        return f"function {getattr(node.target, '__name__', node.target)} ({node.name})"
    if node.op == "call_method" and node.target not in _POINTWISE_METHODS:
        return f"method .{node.target}() ({node.name})"
    return window
