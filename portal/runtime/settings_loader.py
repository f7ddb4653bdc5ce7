"""Turning TOML tables and ``CITYWIFI_*`` variables into the settings dataclasses of
:mod:`portal.runtime.settings`: the type coercion, the error that names the offending key
(:class:`SettingsError`), and the environment variable name of each dotted key.

Every settings section raises :class:`SettingsError` from its ``__post_init__``; the builder
puts the section's prefix in front of the key it names.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

__all__ = ["ENV_PREFIX", "SettingsError", "build", "known_env_names"]

ENV_PREFIX = "CITYWIFI_"


class SettingsError(ValueError):
    """A setting is missing, unknown or has the wrong type; the message names the key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


_T = TypeVar("_T")


def known_env_names(cls: type, prefix: str) -> set[str]:
    names: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        dotted = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            names |= known_env_names(tp, dotted + ".")  # type: ignore[arg-type]
        else:
            names.add(_env_name(dotted))
    return names


def _env_name(dotted: str) -> str:
    return ENV_PREFIX + dotted.replace(".", "_").upper()


def build(cls: type[_T], data: Mapping[str, Any], env: Mapping[str, str], prefix: str) -> _T:
    if not isinstance(data, Mapping):
        raise SettingsError(prefix.rstrip("."), "expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise SettingsError(f"{prefix}{key}", "unknown setting")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp = hints[f.name]
        dotted = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = build(tp, data.get(f.name, {}), env, dotted + ".")  # type: ignore[arg-type]
            continue
        env_key = _env_name(dotted)
        if env_key in env:
            kwargs[f.name] = _coerce_env(tp, env[env_key], env_key)
        elif f.name in data:
            kwargs[f.name] = _coerce(tp, data[f.name], dotted, env)
    try:
        return cls(**kwargs)
    except SettingsError as exc:  # __post_init__ naming its own key: keep it, under our prefix
        raise SettingsError(exc.key if not prefix or exc.key.startswith(prefix) else prefix + exc.key,
                            exc.problem) from None
    except (TypeError, ValueError) as exc:  # __post_init__ validation
        raise SettingsError(prefix.rstrip("."), str(exc)) from exc


def _coerce(tp: Any, value: Any, key: str, env: Mapping[str, str]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        # The member the TOML value is (e.g. str | bool: "auto" or true), else the first's error.
        for arg in args[1:]:
            try:
                return _coerce(arg, value, key, env)
            except SettingsError:
                continue
        return _coerce(args[0], value, key, env)
    if origin is tuple:
        item_tp = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise SettingsError(key, f"expected a list, got {value!r}")
        if dataclasses.is_dataclass(item_tp):
            return tuple(
                build(item_tp, item, {}, f"{key}[{i}].")  # type: ignore[arg-type]
                for i, item in enumerate(value)
            )
        return tuple(_coerce(item_tp, item, f"{key}[{i}]", env) for i, item in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise SettingsError(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(key, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SettingsError(key, f"expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise SettingsError(key, f"expected a path string, got {value!r}")
        return Path(value)
    raise SettingsError(key, f"unsupported setting type {tp!r}")  # programming error


def _coerce_env(tp: Any, raw: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if raw == "" else _coerce_env(args[0], raw, key)
    if origin is tuple:
        item_tp = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(item_tp):
            raise SettingsError(key, "tables can only be set in the TOML file")
        return tuple(_coerce_env(item_tp, part.strip(), key) for part in raw.split(",") if part.strip())
    if tp is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(key, f"expected true or false, got {raw!r}")
    if tp is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(key, f"expected an integer, got {raw!r}") from None
    if tp is float:
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(key, f"expected a number, got {raw!r}") from None
    if tp is Path:
        return Path(raw)
    if tp is str:
        return raw
    raise SettingsError(key, f"unsupported setting type {tp!r}")
