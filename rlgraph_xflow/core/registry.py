"""Registries: the only types a YAML spec can instantiate.

Classes and functions in this file:
  SpecError: a spec names an unknown type or argument; carries the key path.
  did_you_mean: the hint a SpecError gives for a misspelt name.
  Registry: name -> class for one kind of thing (components, agents, ...).
  COMPONENTS: the registry of components; `register` adds to it.
  from_spec: instantiates a component from a dict, a type name, or returns an
    instance unchanged.

A spec is `{"type": "name", **constructor_arguments}`. Constructor arguments
that are themselves specs are left to the constructor, which passes them to
`from_spec` with its own key path so errors point at the right YAML key.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Mapping, Optional


class SpecError(ValueError):
    """A spec is wrong. `key_path` says where, e.g. "model.network.type"."""

    def __init__(self, key_path: str, message: str):
        super().__init__(f"{key_path}: {message}" if key_path else message)
        self.key_path = key_path
        self.message = message


def did_you_mean(name: Any, candidates) -> str:
    """The hint " (did you mean 'x'?)" naming the candidate closest to `name`; "" when none is close."""
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry:
    """Maps registered names to classes of one kind.

    Args:
        kind: what the registry holds, used in error messages ("component").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._classes: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator: makes `name` instantiable from specs."""

        def decorate(cls: type) -> type:
            existing = self._classes.get(name)
            if existing is not None and existing is not cls:
                raise ValueError(f"{self.kind} type {name!r} is registered twice: {existing.__qualname__} and {cls.__qualname__}")
            self._classes[name] = cls
            # The first registration names the class (its default scope);
            # error messages use the spec's own type name instead.
            if "registered_name" not in cls.__dict__:
                cls.registered_name = name
            return cls

        return decorate

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, name: str) -> bool:
        return name in self._classes

    def lookup(self, name: Any, key_path: str = "type") -> type:
        if not isinstance(name, str) or name not in self._classes:
            if not self._classes:
                raise SpecError(key_path, f"unknown {self.kind} type {name!r}: no {self.kind} types exist in this version yet.")
            raise SpecError(
                key_path,
                f"unknown {self.kind} type {name!r}{did_you_mean(name, self._classes)}. Known {self.kind} types: {', '.join(self.names())}.",
            )
        return self._classes[name]

    def from_spec(self, spec: Any, key_path: str = "", base: Optional[type] = None, **defaults):
        """Instantiates a registered type from a spec.

        Args:
            spec: a mapping with a "type" key plus constructor arguments, a
                registered name, or an already built instance (returned as is).
            key_path: where the spec sits in the config, for error messages.
            base: if given, instances must be of this class.
            **defaults: constructor arguments the spec may override.

        Raises:
            SpecError: for an unknown type or constructor argument, naming
                key_path and suggesting close matches.
        """
        if base is not None and isinstance(spec, base):
            return spec
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping):
            raise SpecError(key_path, f"expected a {self.kind} spec (a mapping with 'type', or a type name), got {type(spec).__name__} {spec!r}")
        if "type" not in spec:
            raise SpecError(key_path, f"a {self.kind} spec needs a 'type' key; got keys {sorted(spec)}. Known {self.kind} types: {', '.join(self.names())}.")
        type_path = f"{key_path}.type" if key_path else "type"
        cls = self.lookup(spec["type"], type_path)
        arguments = {**defaults, **{k: v for k, v in spec.items() if k != "type"}}
        self._check_arguments(cls, spec["type"], arguments, key_path)
        if _accepts(cls, "key_path"):
            arguments.setdefault("key_path", key_path)
        return cls(**arguments)

    def check_arguments(self, type_name: str, arguments: Mapping[str, Any], key_path: str = "") -> None:
        """Checks constructor arguments of a registered type without building it (for specs another object builds).

        Raises:
            SpecError: unknown type, unknown argument (naming key_path.argument,
                with a close match) or a missing required one.
        """
        self._check_arguments(self.lookup(type_name, f"{key_path}.type" if key_path else "type"), type_name, arguments,
                              key_path)

    def _check_arguments(self, cls: type, type_name: str, arguments: Mapping[str, Any], key_path: str) -> None:
        if cls.__init__ is object.__init__:
            parameters = {}
        else:
            parameters = dict(list(inspect.signature(cls.__init__).parameters.items())[1:])
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        takes_any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        accepted = [name for name, p in parameters.items() if name != "key_path" and p.kind not in variadic]
        for name in arguments:
            if not takes_any_keyword and name not in accepted and name != "key_path":
                where = f"{key_path}.{name}" if key_path else name
                raise SpecError(
                    where,
                    f"{self.kind} type {type_name!r} has no argument {name!r}{did_you_mean(name, accepted)}. "
                    f"Accepted arguments: {', '.join(accepted)}.",
                )
        missing = [name for name in accepted if parameters[name].default is inspect.Parameter.empty and name not in arguments]
        if missing:
            raise SpecError(key_path, f"{self.kind} type {type_name!r} needs argument(s) {', '.join(missing)}")


def _accepts(cls: type, argument: str) -> bool:
    return cls.__init__ is not object.__init__ and argument in inspect.signature(cls.__init__).parameters


COMPONENTS = Registry("component")
register = COMPONENTS.register


def from_spec(spec: Any, key_path: str = "", **defaults):
    """Builds a registered component from a spec (see Registry.from_spec)."""
    # Imported here to break a cycle: component imports spaces, spaces imports
    # validation, and validation imports this module (for SpecError).
    from rlgraph_xflow.core.component import Component

    return COMPONENTS.from_spec(spec, key_path, base=Component, **defaults)
