"""The package's one hook manager: capture the outputs (and gradients) of named modules.

Post-hoc extractors and the visualization tools hook layers only through this file. Hooks are
removed when the ``with`` block ends, also on an exception. Two traps of the usual
implementations are avoided:

- An in-place op after the target (torchvision's ``ReLU(inplace=True)``) rewrites the module's
  output tensor after a forward hook has seen it. The hook therefore keeps the module's own
  output and hands a clone downstream, so later in-place ops change the clone. Gradients are
  taken with respect to that kept tensor (a tensor hook or ``torch.autograd.grad``), never
  through a module backward hook, which sees the tensor the in-place op produced.
- A module called more than once per forward pass (torchvision's ``Bottleneck.relu`` runs three
  times) has no single output to explain: the second call raises instead of picking one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle


def resolve_modules(model: nn.Module, names: str | Sequence[str]) -> dict[str, nn.Module]:
    """Look up submodules by their ``named_modules`` name (``"layer4"``, ``"features.28"``).

    Raises:
        KeyError: naming the missing module and listing the model's top-level children.
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError("no layer names given")
    if len(set(names)) != len(names):
        raise ValueError(f"layer names repeat: {names}")
    modules = dict(model.named_modules())
    missing = [name for name in names if name not in modules]
    if missing:
        children = [name for name, _ in model.named_children()]
        raise KeyError(
            f"{type(model).__name__} has no module {missing[0]!r} "
            f"(names as in model.named_modules(); top-level children: {children})"
        )
    return {name: modules[name] for name in names}


class HookSet:
    """Hook handles that are all removed together (``with HookSet() as hooks: hooks.add(...)``).

    Other hook users in the package (e.g. the backward rules of guided backpropagation) register
    through this class so that every hook is removed on exit and on error.
    """

    def __init__(self) -> None:
        self._handles: list[RemovableHandle] = []

    def add(self, handle: RemovableHandle) -> RemovableHandle:
        """Keep ``handle`` (the return value of ``register_*_hook``) for removal."""
        self._handles.append(handle)
        return handle

    def remove(self) -> None:
        """Remove every hook (idempotent)."""
        while self._handles:
            self._handles.pop().remove()

    def __enter__(self) -> HookSet:
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


class LayerHooks:
    """Capture the forward outputs, and optionally the gradients, of named modules.

    Usage::

        with LayerHooks(model, ["layer4"], backward=True) as hooks:
            logits = model(images)
            grads = hooks.grads_of(logits.gather(1, class_ids[:, None]).sum())
            features = hooks.outputs["layer4"]

    One capture holds one forward pass: call `reset` before the next forward (a second call of
    a hooked module within one capture raises ``RuntimeError``).

    Args:
        model: any ``nn.Module``; it is not modified apart from the temporary hooks.
        layer_names: module names as in ``model.named_modules()``.
        backward: keep the outputs in the autograd graph and record their gradients in
            `grads` when a backward pass reaches them. When gradients are enabled but an output
            does not require grad (a frozen model on images without grad), it is replaced by a
            detached leaf that does, so gradients with respect to the layer still exist.
            With ``backward=False`` the outputs are stored detached.

    Attributes:
        outputs: name → the module's output of the last forward pass, as the module returned
            it (not changed by in-place ops that follow).
        grads: name → d(backpropagated scalar)/d(output), filled by ``backward()``/`grads_of`.
        calls: name → number of calls since the last `reset`.
    """

    def __init__(
        self, model: nn.Module, layer_names: str | Sequence[str], *, backward: bool = False
    ) -> None:
        self.modules = resolve_modules(model, layer_names)
        self.backward = bool(backward)
        self.outputs: dict[str, Tensor] = {}
        self.grads: dict[str, Tensor] = {}
        self.calls: dict[str, int] = {}
        self._handles = HookSet()
        self._active = True

    @property
    def names(self) -> list[str]:
        """The hooked module names, in the order given."""
        return list(self.modules)

    def reset(self) -> None:
        """Forget the captured tensors and call counts (before the next forward pass)."""
        self.outputs.clear()
        self.grads.clear()
        self.calls.clear()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Forward passes inside this block are not captured (e.g. Score-CAM's masked passes)."""
        previous, self._active = self._active, False
        try:
            yield
        finally:
            self._active = previous

    def grads_of(self, scalar: Tensor, retain_graph: bool = False) -> dict[str, Tensor]:
        """Gradients of ``scalar`` with respect to each captured output, via ``autograd.grad``.

        Parameters' ``.grad`` are not touched. Layers that ``scalar`` does not depend on get
        zeros.
        """
        names = [name for name in self.names if name in self.outputs]
        if len(names) != len(self.names):
            missing = sorted(set(self.names) - set(names))
            raise RuntimeError(f"no forward output captured for {missing}: run the model first")
        tensors = [self.outputs[name] for name in names]
        if not all(t.requires_grad for t in tensors):
            raise RuntimeError(
                "captured outputs are not in the autograd graph: use LayerHooks(..., backward=True)"
                " and run the forward pass with gradients enabled"
            )
        grads = torch.autograd.grad(
            scalar, tensors, retain_graph=retain_graph, allow_unused=True, materialize_grads=True
        )
        self.grads.update(zip(names, grads, strict=True))
        return dict(zip(names, grads, strict=True))

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output) -> Tensor | None:
            if not self._active:
                return None
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.calls[name] > 1:
                raise RuntimeError(
                    f"module {name!r} ({type(module).__name__}) ran {self.calls[name]} times in "
                    "one forward pass; its output is ambiguous. Hook a module that runs once, e.g. "
                    "its parent block (or call reset() between forward passes)."
                )
            if not isinstance(output, Tensor):
                raise TypeError(
                    f"module {name!r} returned {type(output).__name__}, not a Tensor; "
                    "hook a module whose output is one tensor"
                )
            if not self.backward:
                self.outputs[name] = output.detach().clone()
                return None
            if torch.is_grad_enabled() and not output.requires_grad:
                output = output.detach().requires_grad_(True)
            self.outputs[name] = output
            if output.requires_grad:
                output.register_hook(self._grad_hook(name))
            # Downstream code (and any in-place op in it) works on the clone; gradients flow
            # back through the clone to the kept tensor.
            return output.clone()

        return hook

    def _grad_hook(self, name: str) -> Callable[[Tensor], None]:
        def hook(grad: Tensor) -> None:
            self.grads[name] = grad

        return hook

    def __enter__(self) -> LayerHooks:
        self.reset()
        try:
            for name, module in self.modules.items():
                self._handles.add(module.register_forward_hook(self._hook(name)))
        except BaseException:
            self._handles.remove()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._handles.remove()
