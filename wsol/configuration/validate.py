"""Check a composed config's types and ranges before any work (and before Hydra's run folder).

Two sources of rules, neither naming a method:

- :data:`RULES`: the options the tasks read themselves (epochs, batch sizes, intervals,
  ``eval_checkpoint``, ``frame_size``, predict options...), by full key.
- every node with a ``_target_``: its keys must be arguments of the target, and each value must
  fit the argument's annotation. A constructor states a range next to its own code with
  ``Annotated[float, Interval(0, 1, low_open=True, high_open=True)]``.

The Hydra callback :class:`ValidateConfig` (``configs/hydra/default.yaml``) runs the check when
a run starts, before Hydra creates the run folder; :func:`wsol.tasks.run_outputs.apply_extras`
runs it again for configs composed in-process. Every problem is listed with its key and the allowed
values.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from hydra.experimental.callback import Callback
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationKeyError

from wsol.evaluation.protocol import SETTINGS as PROTOCOL_SETTINGS


class ConfigValidationError(ValueError):
    """A composed config has options of the wrong type or out of range."""


@dataclass(frozen=True)
class Interval:
    """A numeric range for ``Annotated`` arguments and :data:`RULES` (None: unbounded)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{kind} in {left}{self.low}, {self.high}{right}"
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None:
            return f"{kind} {'<' if self.high_open else '<='} {self.high}"
        return kind

    def check(self, value: Any) -> str | None:
        """None when ``value`` fits, else what was expected (NaN and infinities never fit)."""
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (self.integer and not isinstance(value, int)):
            return self.describe()
        if not math.isfinite(value):
            return f"a finite {self.describe().removeprefix('a ').removeprefix('an ')}"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return self.describe()
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return self.describe()
        return None


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    values: tuple

    def check(self, value: Any) -> str | None:
        return None if value in self.values else f"one of {list(self.values)}"


@dataclass(frozen=True)
class Kind:
    """A plain type (``bool``, ``str``), optionally null."""

    type: type
    nullable: bool = False

    def check(self, value: Any) -> str | None:
        if value is None and self.nullable:
            return None
        if isinstance(value, self.type):
            return None
        return f"a {self.type.__name__}{' or null' if self.nullable else ''}"


@dataclass(frozen=True)
class Nullable:
    """``rule`` or null."""

    rule: Any

    def check(self, value: Any) -> str | None:
        if value is None:
            return None
        problem = self.rule.check(value)
        return None if problem is None else f"{problem} or null"


@dataclass(frozen=True)
class Each:
    """A non-empty list whose every item fits ``rule``."""

    rule: Any

    def check(self, value: Any) -> str | None:
        items = value if isinstance(value, (list, tuple)) else None
        if not items or any(self.rule.check(item) for item in items):
            return f"a non-empty list, each item {self.rule.describe()}"
        return None


@dataclass(frozen=True)
class FolderName:
    """One safe path component of bounded length (a run folder's name), or null; a number is
    a name (``run_name=$SLURM_JOB_ID``)."""

    max_length: int = 100

    def describe(self) -> str:
        return (
            f"null or one folder name of at most {self.max_length} characters from "
            "[A-Za-z0-9._,=+-], not starting with '.', '-' or '+' (no '/', no '..')"
        )

    def check(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return self.describe()
        text = str(value)
        if len(text) > self.max_length or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._,=+-]*", text):
            return self.describe()
        return None


def _int(low: int | None = None, high: int | None = None) -> Interval:
    return Interval(low, high, integer=True)


def _flag() -> Kind:
    return Kind(bool)


# Options the tasks read themselves (full key → rule); a key absent from the config is skipped.
RULES: dict[str, Any] = {
    "seed": _int(0),
    "train": _flag(),
    "test": _flag(),
    "eval_checkpoint": OneOf(("last", "best")),
    "ckpt_path": Kind(str, nullable=True),
    "run_name": FolderName(),
    "split": Kind(str, nullable=True),
    "trainer.max_epochs": Nullable(_int(-1)),
    "trainer.min_epochs": Nullable(_int(0)),
    "trainer.max_steps": _int(-1),
    "trainer.check_val_every_n_epoch": Nullable(_int(1)),
    "trainer.log_every_n_steps": _int(1),
    "trainer.accumulate_grad_batches": _int(1),
    "trainer.num_sanity_val_steps": _int(-1),
    "data.batch_size": _int(1),
    "data.eval_batch_size": _int(1),
    "data.num_workers": _int(0),
    "data.train_resize": _int(1),
    "data.train_crop": _int(1),
    "data.eval_size": _int(1),
    "data.num_classes": Nullable(_int(1)),
    # The protocol's settings and rules are listed once, in wsol.evaluation.protocol.
    **{f"eval.{name}": setting for name, setting in PROTOCOL_SETTINGS.items()},
    "module.head_lr_mult": Interval(0, low_open=True),
    "module.scheduler_interval": OneOf(("step", "epoch")),
    "module.optimizer.lr": Interval(0, low_open=True),
    "module.optimizer.weight_decay": Interval(0),
    "module.optimizer.momentum": Interval(0, 1, high_open=True),
    "module.scheduler.gamma": Interval(0, 1, low_open=True),
    "module.scheduler.step_size": _int(1),
    "module.scheduler.pct_start": Interval(0, 1, low_open=True, high_open=True),
    "data.mean": Each(Interval(0, 1)),
    "data.std": Each(Interval(0, low_open=True)),
    "data.preparer.image_size": _int(8),
    "data.preparer.train_size": _int(1),
    "data.preparer.val_size": _int(1),
    "data.preparer.test_size": _int(1),
    "data.preparer.num_classes": _int(1),
    "trainer.gradient_clip_val": Nullable(Interval(0)),
    "trainer.limit_train_batches": Nullable(Interval(0, low_open=True)),
    "trainer.limit_val_batches": Nullable(Interval(0)),
    "trainer.limit_test_batches": Nullable(Interval(0)),
    "module.channels_last": _flag(),
    "slurm.auto_requeue": _flag(),
    "slurm.requeue_signal": OneOf(("SIGUSR1", "SIGUSR2", "SIGTERM", "SIGINT", "SIGHUP")),
    # wsol-eval on saved maps
    "frame_size": _int(1),
    # wsol-predict
    "top_k": _int(1),
    "batch_size": _int(1),
    "num_workers": _int(0),
    "threshold": Nullable(Interval(0, 1, high_open=True)),
    "multi_contour": Kind(bool, nullable=True),
    "recursive": _flag(),
    "overwrite": _flag(),
    "overlays": _flag(),
    "alpha": Interval(0, 1),
    "colormap": Kind(str),
    "device": Kind(str),
}

_UNSET = object()


def _value(node: DictConfig | ListConfig, key: Any) -> Any:
    """The resolved value of ``node[key]`` as plain data; _UNSET when it cannot be resolved yet
    (a Hydra runtime value before the run starts) or is missing (``???``)."""
    try:
        if OmegaConf.is_missing(node, key):
            return _UNSET
        value = node[key]
        if OmegaConf.is_config(value):
            return OmegaConf.to_container(value, resolve=True)
        return value
    except Exception:  # noqa: BLE001 - interpolations that only resolve inside a run
        return _UNSET


def _select(cfg: DictConfig, key: str) -> Any:
    *parents, last = key.split(".")
    node: Any = cfg
    for part in parents:
        if not isinstance(node, DictConfig) or part not in node:
            return _UNSET
        try:
            node = node[part]
        except Exception:  # noqa: BLE001
            return _UNSET
    if not isinstance(node, DictConfig) or last not in node:
        return _UNSET
    return _value(node, last)


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (plain config data) fits a type annotation; unknown types fit."""
    if hint in (Any, inspect.Parameter.empty) or isinstance(hint, (str, typing.TypeVar)):
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return _fits(value, args[0])
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is Literal:
        return value in args
    sequences = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)
    if origin in sequences or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args and (origin is not tuple or len(args) == 2) else Any
        return item is Ellipsis or all(_fits(v, item) for v in value)
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        return isinstance(value, dict)
    return True  # classes, callables, tensors...: built by code, not typed in YAML


def _describe(hint: Any) -> str:
    text = getattr(hint, "__name__", None) or str(hint)
    return text.replace("typing.", "").replace("NoneType", "None")


def _target_problems(node: DictConfig, key: str) -> list[str]:
    """Keys of a ``_target_`` node that are not arguments of the target or do not fit them."""
    prefix = f"{key}." if key else ""
    target = node.get("_target_")
    try:
        obj = get_object(str(target))
    except Exception as error:  # noqa: BLE001 - the target cannot be imported
        return [f"{prefix}_target_: cannot import {target!r} ({error})"]
    function = obj.__init__ if inspect.isclass(obj) else obj
    try:
        parameters = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return []
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # noqa: BLE001 - annotations that only resolve for type checkers
        hints = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    problems = []
    for name in node:
        name = str(name)
        if name.startswith("_"):
            continue
        if name not in parameters:
            if not takes_any:
                known = ", ".join(p for p in parameters if p not in ("self", "args", "kwargs"))
                problems.append(f"{prefix}{name}: not an argument of {target} (it takes {known})")
            continue
        value = _value(node, name)
        if value is _UNSET or (isinstance(value, dict) and "_target_" in value):
            continue
        hint = hints.get(name, parameters[name].annotation)
        if not _fits(value, hint):
            problems.append(f"{prefix}{name}: expected {_describe(hint)}, got {value!r}")
            continue
        extras = typing.get_args(hint)[1:] if typing.get_origin(hint) is Annotated else ()
        for rule in extras:
            problem = rule.check(value) if hasattr(rule, "check") else None
            if problem:
                problems.append(f"{prefix}{name}: must be {problem}, got {value!r}")
    return problems


def _defining_configs(top_key: str) -> list[str]:
    """Config files (relative to the config dir) whose top level defines ``top_key``."""
    from wsol.configuration.compose import CONFIG_DIR

    found = []
    root = Path(CONFIG_DIR)
    for path in sorted(root.rglob("*.yaml")):
        try:
            text = path.read_text()
        except OSError:
            continue
        if re.search(rf"^{re.escape(top_key)}:", text, re.MULTILINE):
            found.append(str(path.relative_to(root)))
    return found


def _missing_block_problems(missing: list[tuple[str, str, str]]) -> list[str]:
    """One problem per top-level block that interpolations refer to but the composed config
    lacks (an option of one group may need a block that only some options of another group
    carry): which keys refer to it, and which config files define it.

    ``missing``: (full key, its interpolation, the missing key), in walk order; a reference
    seen under another key (an interpolated parent) is listed once.
    """
    by_block: dict[str, list[str]] = {}
    seen = set()
    for full, reference, key in missing:
        if reference in seen:
            continue
        seen.add(reference)
        by_block.setdefault(key.split(".")[0], []).append(f"{full} ({reference})")
    problems = []
    for block, users in by_block.items():
        where = _defining_configs(block)
        hint = f"; config files that define it: {', '.join(where)}" if where else ""
        problems.append(
            f"{block}: not in the composed config, but {', '.join(users)} refer to it{hint}"
        )
    return problems


def _walk(node: Any, key: str, problems: list[str], missing: list | None = None) -> None:
    """Problems of every ``_target_`` node under ``node``; interpolations that name a key the
    config lacks go to ``missing`` as (full key, interpolation, missing key)."""
    missing = [] if missing is None else missing
    if isinstance(node, DictConfig):
        if "_target_" in node:
            problems.extend(_target_problems(node, key))
        for name in node:
            if key == "" and name == "hydra":
                continue
            try:
                child = node._get_node(name)
            except Exception:  # noqa: BLE001
                continue
            if OmegaConf.is_interpolation(node, name):
                try:
                    child = node[name]
                except InterpolationKeyError as error:
                    full = f"{key}.{name}" if key else str(name)
                    found = re.search(r"Interpolation key '([^']+)' not found", str(error))
                    reference = str(node._get_node(name)._value())
                    missing.append((full, reference, found.group(1) if found else reference))
                    continue
                except Exception:  # noqa: BLE001 - values that only resolve inside a run
                    continue
            _walk(child, f"{key}.{name}" if key else str(name), problems, missing)
    elif isinstance(node, ListConfig):
        for index in range(len(node)):
            try:
                child = node[index]
            except Exception:  # noqa: BLE001
                continue
            _walk(child, f"{key}[{index}]", problems, missing)


def _non_finite(node: Any, key: str, problems: list[str]) -> None:
    """Every float option is finite: NaN and infinities pass no range rule, so none is taken."""
    if isinstance(node, dict):
        for name, value in node.items():
            if not (key == "" and name == "hydra"):
                _non_finite(value, f"{key}.{name}" if key else str(name), problems)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _non_finite(value, f"{key}[{index}]", problems)
    elif isinstance(node, float) and not math.isfinite(node):
        problems.append(f"{key}: must be a finite number, got {node!r}")


def config_problems(cfg: DictConfig) -> list[str]:
    """Every problem of ``cfg``: ``"<full key>: <what is allowed>, got <value>"``."""
    from wsol.configuration.combinations import combination_problems

    problems = []
    for key, rule in RULES.items():
        value = _select(cfg, key)
        if value is _UNSET:
            continue
        problem = rule.check(value)
        if problem:
            problems.append(f"{key}: must be {problem}, got {value!r}")
    reported = {problem.split(":", 1)[0] for problem in problems}
    by_target: list[str] = []
    missing: list[tuple[str, str, str]] = []
    _walk(cfg, "", by_target, missing)
    problems += [p for p in by_target if p.split(":", 1)[0] not in reported]
    problems += _missing_block_problems(missing)
    reported = {problem.split(":", 1)[0] for problem in problems}
    plain = {k: _value(cfg, k) for k in cfg if k != "hydra"}
    non_finite: list[str] = []
    _non_finite({k: v for k, v in plain.items() if v is not _UNSET}, "", non_finite)
    problems += [p for p in non_finite if p.split(":", 1)[0] not in reported]
    if not problems:  # combinations of options that are each valid
        problems += combination_problems(cfg)
    return list(dict.fromkeys(problems))


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigValidationError` listing every problem of ``cfg``."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigValidationError("invalid config (nothing was run):\n  " + "\n  ".join(problems))


class ValidateConfig(Callback):
    """Hydra callback: validate the composed config before the run folder exists.

    Hydra turns an exception raised by a callback into a warning and carries on, so a config
    that fails stops the command here: the problems on stderr, exit status 1.
    """

    def _validate(self, config: DictConfig) -> None:
        try:
            validate_config(config)
        except ConfigValidationError as error:
            sys.stderr.write(f"{error}\n")
            raise SystemExit(1) from error

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._validate(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """The sweep's base config, then every job's own (:mod:`wsol.configuration.sweep_jobs`), all
        before the first job starts."""
        from wsol.configuration.sweep_jobs import job_configs

        self._validate(config)
        problems = []
        for overrides, job in job_configs(config):
            problems += [f"job {' '.join(overrides)}: {p}" for p in config_problems(job)]
        if problems:
            sys.stderr.write(
                "invalid multirun (no job was run):\n  " + "\n  ".join(problems) + "\n"
            )
            raise SystemExit(1)
