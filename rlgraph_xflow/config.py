"""YAML run configurations: safe loading, base files, overrides, source positions.

Holds:
  ConfigError: a bad configuration; carries the file, line, column and key path
    it concerns (or the command line override it came from).
  Config: a resolved configuration. A read-only nested mapping addressed by
    dotted key paths ("agent.policy.layers[1].units") that remembers where each
    key was set (file and line, or command line override), so that consumers
    validating it later can point at the offending line.
  load_config: reads a YAML file, resolves its `base` files, applies
    `key.sub=value` overrides and returns a Config.

YAML is only ever parsed by a subclass of `yaml.SafeLoader`: tags that build
Python objects (`!!python/object`, ...) are refused, never executed.

Rules a config file follows:
  * The top level is a mapping. The top-level key `base` names one file or a
    list of files (relative to the including file) that are loaded first and
    deep-merged in order; the including file wins. Mappings merge recursively;
    lists and scalars replace. `base` does not appear in the resolved config.
  * Every key is a string without '.', '[', ']' or '=' and without leading or
    trailing spaces, because key paths use those characters as separators and
    every key must be reachable from the command line.
  * A key may appear only once per mapping (plain YAML silently keeps the last).
  * Floats in exponent notation without a dot (`3e-4`) are floats, as in
    YAML 1.2; plain PyYAML would read them as strings.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import os
import re
import tempfile
from typing import Any, Iterable, Iterator

import yaml

BASE_KEY = "base"
SAVED_CONFIG_FILENAME = "config.yaml"

_STANDARD_TAG_PREFIX = "tag:yaml.org,2002:"
_MAPPING_TAG = _STANDARD_TAG_PREFIX + "map"
_SEQUENCE_TAG = _STANDARD_TAG_PREFIX + "seq"
_MERGE_TAG = _STANDARD_TAG_PREFIX + "merge"
_KEY_SEPARATORS = ".[]="
_KEY_NAME_PATTERN = r"[^.\[\]=\s](?:[^.\[\]=]*[^.\[\]=\s])?"
_KEY_PATH_PART = re.compile(rf"({_KEY_NAME_PATTERN})((?:\[[0-9]+\])*)")
_INDEX_PATTERN = re.compile(r"\[([0-9]+)\]")
_MISSING = object()


class ConfigError(ValueError):
    """A configuration that cannot be loaded or does not fit what reads it.

    `str(error)` reads "file:line[:column]: key.path: message", or
    "command line override 'a.b=3': a.b: message" for an override.

    Attributes:
        message: what was expected and what was found, without the location.
        path: the YAML file concerned, as given by the user, or None.
        line: 1-based line in `path`, or None.
        column: 1-based column in `path` (syntax errors), or None.
        key_path: dotted key path such as "agent.policy.layers[1].units", or None.
        override: the command line override concerned ("a.b=3"), or None.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key_path: str | None = None,
        override: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.key_path = key_path
        self.override = override
        super().__init__(self._formatted())

    def _formatted(self) -> str:
        parts = []
        if self.path is not None:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        elif self.override is not None:
            parts.append(f"command line override {self.override!r}")
        if self.key_path:
            parts.append(self.key_path)
        parts.append(self.message)
        return ": ".join(parts)

    def __reduce__(self):
        # The default reduce would call ConfigError(formatted_text) and lose the
        # fields; errors must survive pickling to cross Ray worker boundaries.
        return (
            _rebuild_config_error,
            (self.message, self.path, self.line, self.column, self.key_path, self.override),
        )


def _rebuild_config_error(message, path, line, column, key_path, override) -> ConfigError:
    return ConfigError(
        message, path=path, line=line, column=column, key_path=key_path, override=override
    )


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where a key was set: a file and line, or a command line override."""

    file: str | None = None
    line: int | None = None
    override: str | None = None

    def __str__(self) -> str:
        if self.override is not None:
            return f"command line override {self.override!r}"
        if self.line is None:
            return str(self.file)
        return f"{self.file}:{self.line}"

    def error(self, message: str, key_path: str | None, column: int | None = None) -> ConfigError:
        return ConfigError(
            message,
            path=self.file,
            line=self.line,
            column=column,
            key_path=key_path,
            override=self.override,
        )


class _LocatedProblem(Exception):
    """A problem the loader found, before the caller knows which file or override it is in."""

    def __init__(self, message: str, mark: yaml.Mark | None, key_path: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = None if mark is None else mark.line + 1
        self.column = None if mark is None else mark.column + 1
        self.key_path = key_path or None


# ---------------------------------------------------------------- key paths


def _child_path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _extend_path(prefix: str, segment: str | int) -> str:
    if isinstance(segment, int):
        return f"{prefix}[{segment}]"
    return _child_path(prefix, segment)


def _parse_key_path(key_path: str) -> list[str | int]:
    """Splits "agent.layers[1].units" into ["agent", "layers", 1, "units"]."""
    if not isinstance(key_path, str):
        raise TypeError(
            f"a key path must be a string like 'agent.layers[1].units', "
            f"found {type(key_path).__name__} {key_path!r}"
        )
    segments: list[str | int] = []
    for part in key_path.split("."):
        match = _KEY_PATH_PART.fullmatch(part)
        if match is None:
            raise ConfigError(
                f"malformed key path {key_path!r}: expected names separated by '.', each "
                f"optionally followed by [index], like 'agent.layers[1].units'; "
                f"the part {part!r} is not of that form"
            )
        segments.append(match.group(1))
        segments.extend(int(index) for index in _INDEX_PATTERN.findall(match.group(2)))
    return segments


def _format_key_path(segments: Iterable[str | int]) -> str:
    text = ""
    for segment in segments:
        text = _extend_path(text, segment)
    return text


def _is_within(key_path: str, ancestor: str) -> bool:
    return (
        key_path == ancestor
        or key_path.startswith(ancestor + ".")
        or key_path.startswith(ancestor + "[")
    )


def _drop_subtree(positions: dict[str, _Source], key_path: str) -> None:
    for stale in [path for path in positions if _is_within(path, key_path)]:
        del positions[stale]


def _subtree(positions: dict[str, Any], key_path: str) -> dict[str, Any]:
    return {path: source for path, source in positions.items() if _is_within(path, key_path)}


def _value_key_paths(value: Any, key_path: str) -> Iterator[str]:
    """Yields `key_path` and the key path of everything nested inside `value`."""
    yield key_path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _value_key_paths(child, _child_path(key_path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _value_key_paths(child, f"{key_path}[{index}]")


def _describe(value: Any) -> str:
    """Names the YAML type of `value` for error messages: "an integer (3)"."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    kind = kinds.get(type(value), f"a {type(value).__name__}")
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind} ({shown})"


def _key_name_problem(key: str) -> str | None:
    if not key:
        return "empty key: keys must be non-empty names"
    if key != key.strip():
        return f"key {key!r} has leading or trailing spaces: key names may not"
    for character in _KEY_SEPARATORS:
        if character in key:
            return (
                f"key {key!r} contains {character!r}: key names may not contain "
                f"'.', '[', ']' or '=' because key paths such as 'agent.layers[1].units' "
                f"and overrides such as 'a.b=3' use them as separators"
            )
    return None


# ------------------------------------------------------------------- loader


def _plain(value: Any) -> Any:
    """Turns the tuples of `!!omap`/`!!pairs` into lists so safe_dump can write them back."""
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class _LocatingLoader(yaml.SafeLoader):
    """A SafeLoader that builds plain data and records the line of every key.

    It walks the composed node tree itself (rather than letting SafeConstructor
    build the whole document) so it knows the key path of every mapping and
    list it builds; that is what lets a consumer report "file:line" for a key
    long after loading. It also refuses duplicate keys and unaddressable keys.
    """

    def __init__(self, stream: bytes | str) -> None:
        super().__init__(stream)
        self._nodes_being_built: set[int] = set()
        self._current_key_path = ""

    def load_located(self) -> tuple[yaml.Node | None, Any, dict[str, int]]:
        """Parses the single document in the stream.

        Returns:
            (root node or None for an empty document, plain data, map from key
            path to 1-based line of that key or list item).

        Raises:
            yaml.YAMLError: the text is not valid YAML.
            _LocatedProblem: valid YAML that is not a valid config value.
        """
        root = self.get_single_node()
        if root is None:
            return None, None, {}
        lines: dict[str, int] = {}
        try:
            data = self._build(root, "", lines)
        finally:
            # construct_object caches per document; reset as construct_document would.
            self.constructed_objects = {}
            self.recursive_objects = {}
            self.state_generators = []
        return root, data, lines

    def _build(self, node: yaml.Node, key_path: str, lines: dict[str, int]) -> Any:
        if id(node) in self._nodes_being_built:
            raise _LocatedProblem(
                "recursive alias: this value contains itself through an anchor (&) and "
                "alias (*), which a configuration cannot represent",
                node.start_mark,
                key_path,
            )
        if isinstance(node, yaml.MappingNode) and node.tag == _MAPPING_TAG:
            builder = self._build_mapping
        elif isinstance(node, yaml.SequenceNode) and node.tag == _SEQUENCE_TAG:
            builder = self._build_sequence
        else:
            self._current_key_path = key_path
            return _plain(copy.deepcopy(self.construct_object(node, deep=True)))
        self._nodes_being_built.add(id(node))
        try:
            return builder(node, key_path, lines)
        finally:
            self._nodes_being_built.discard(id(node))

    def _build_mapping(self, node: yaml.MappingNode, key_path: str, lines: dict[str, int]) -> dict:
        first_lines: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key_of(key_node, key_path)
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise _LocatedProblem(
                    f"duplicate key {key!r}: already defined at line {first_lines[key]} of "
                    f"the same mapping; plain YAML would silently keep only the last value",
                    key_node.start_mark,
                    _child_path(key_path, key),
                )
            first_lines[key] = line
        # Expands `<<: *anchor` merge keys in place; merged pairs come first,
        # so the mapping's own keys, assigned later below, win.
        self.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key_of(key_node, key_path)
            child_path = _child_path(key_path, key)
            if key in result:
                for stale in [path for path in lines if _is_within(path, child_path)]:
                    del lines[stale]
            lines[child_path] = key_node.start_mark.line + 1
            result[key] = self._build(value_node, child_path, lines)
        return result

    def _build_sequence(self, node: yaml.SequenceNode, key_path: str, lines: dict[str, int]) -> list:
        result = []
        for index, item_node in enumerate(node.value):
            item_path = f"{key_path}[{index}]"
            lines[item_path] = item_node.start_mark.line + 1
            result.append(self._build(item_node, item_path, lines))
        return result

    def _key_of(self, key_node: yaml.Node, key_path: str) -> str:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "a mapping" if isinstance(key_node, yaml.MappingNode) else "a list"
            raise _LocatedProblem(
                f"expected a string key, found {kind} used as a key", key_node.start_mark, key_path
            )
        self._current_key_path = key_path
        key = self.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise _LocatedProblem(
                f"expected a string key, found {_describe(key)} written as "
                f"{key_node.value!r}; quote it ('{key_node.value}') to use it as a name",
                key_node.start_mark,
                key_path,
            )
        problem = _key_name_problem(key)
        if problem is not None:
            raise _LocatedProblem(problem, key_node.start_mark, key_path)
        return key

    def _refuse_unknown_tag(self, node: yaml.Node) -> Any:
        tag = node.tag
        shown = "!!" + tag[len(_STANDARD_TAG_PREFIX):] if tag.startswith(_STANDARD_TAG_PREFIX) else tag
        message = (
            f"tag {shown!r} is not allowed: only plain YAML values (mappings, lists, strings, "
            f"numbers, booleans, null, timestamps, !!binary, !!set) are accepted"
        )
        if "python/" in tag:
            message += "; tags that build Python objects are refused because loading them can run code"
        raise _LocatedProblem(message, node.start_mark, self._current_key_path)


_LocatingLoader.add_constructor(None, _LocatingLoader._refuse_unknown_tag)
# YAML 1.2 floats such as 3e-4 (no dot, unsigned exponent) that YAML 1.1 reads as strings;
# learning rates are written this way all the time.
_LocatingLoader.add_implicit_resolver(
    _STANDARD_TAG_PREFIX + "float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_error_message(error: yaml.YAMLError) -> tuple[str, yaml.Mark | None]:
    if not isinstance(error, yaml.MarkedYAMLError):
        return f"cannot read the YAML text: {error}", None
    problem = error.problem or "invalid YAML"
    if error.context:
        context = error.context
        if error.context_mark is not None and error.context_mark is not error.problem_mark:
            mark = error.context_mark
            context += f" that starts at line {mark.line + 1}, column {mark.column + 1}"
        problem += f" ({context})"
    if isinstance(error, yaml.constructor.ConstructorError):
        kind = "invalid YAML value"
    else:
        kind = "YAML syntax error"
    return f"{kind}: {problem}", error.problem_mark or error.context_mark


def _parse_yaml_mapping(display_path: str) -> tuple[dict, dict[str, _Source]]:
    """Reads one YAML file whose top level must be a mapping; returns data and key sources."""
    try:
        with open(display_path, "rb") as stream:
            text = stream.read()
    except OSError as error:
        raise ConfigError(f"cannot read config file: {error.strerror}", path=display_path) from error
    loader = _LocatingLoader(text)
    try:
        root, data, lines = loader.load_located()
    except yaml.YAMLError as error:
        message, mark = _yaml_error_message(error)
        raise ConfigError(
            message,
            path=display_path,
            line=None if mark is None else mark.line + 1,
            column=None if mark is None else mark.column + 1,
        ) from error
    except _LocatedProblem as problem:
        raise ConfigError(
            problem.message, path=display_path, line=problem.line, key_path=problem.key_path
        ) from None
    finally:
        loader.dispose()
    if root is None:
        raise ConfigError(
            "expected a mapping of settings (key: value lines), found an empty document",
            path=display_path,
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping of settings (key: value lines) at the top level, "
            f"found {_describe(data)}",
            path=display_path,
            line=root.start_mark.line + 1,
        )
    return data, {path: _Source(display_path, line) for path, line in lines.items()}


# ---------------------------------------------------------- bases, merging


def _merge_into(
    target: dict,
    target_sources: dict[str, _Source],
    source: dict,
    source_sources: dict[str, _Source],
    prefix: str,
) -> None:
    """Deep-merges `source` into `target`: mappings merge, everything else replaces."""
    for key, value in source.items():
        key_path = _child_path(prefix, key)
        existing = target.get(key, _MISSING)
        if isinstance(existing, dict) and isinstance(value, dict):
            target_sources[key_path] = source_sources[key_path]
            _merge_into(existing, target_sources, value, source_sources, key_path)
        else:
            _drop_subtree(target_sources, key_path)
            target[key] = value
            target_sources.update(_subtree(source_sources, key_path))


def _base_entries(
    data: dict, sources: dict[str, _Source], display_path: str
) -> list[tuple[str, str, str]]:
    """Lists (written name, resolved path, key path of the entry) for the file's bases."""
    if BASE_KEY not in data:
        return []
    value = data[BASE_KEY]
    if isinstance(value, str):
        named = [(value, BASE_KEY)]
    elif isinstance(value, list):
        named = [(item, f"{BASE_KEY}[{index}]") for index, item in enumerate(value)]
    else:
        raise sources[BASE_KEY].error(
            f"expected a file name or a list of file names, found {_describe(value)}", BASE_KEY
        )
    entries = []
    for name, key_path in named:
        if not isinstance(name, str) or not name.strip():
            raise sources[key_path].error(
                f"expected a file name (relative to {display_path}), found {_describe(name)}", key_path
            )
        resolved = os.path.normpath(os.path.join(os.path.dirname(display_path), name))
        entries.append((name, resolved, key_path))
    return entries


def _load_resolved(
    display_path: str, chain: list[tuple[str, str]]
) -> tuple[dict, dict[str, _Source]]:
    """Loads a file and, recursively, its bases; `chain` is the (real, shown) include path so far."""
    data, sources = _parse_yaml_mapping(display_path)
    entries = _base_entries(data, sources, display_path)
    data.pop(BASE_KEY, None)
    entry_sources = {key_path: sources[key_path] for _, _, key_path in entries}
    _drop_subtree(sources, BASE_KEY)

    merged: dict = {}
    merged_sources: dict[str, _Source] = {}
    for name, resolved, key_path in entries:
        if not os.path.isfile(resolved):
            raise entry_sources[key_path].error(
                f"base file {name!r} not found (looked for {resolved})", key_path
            )
        real = os.path.realpath(resolved)
        if any(real == seen for seen, _ in chain):
            shown_chain = " -> ".join([shown for _, shown in chain] + [resolved])
            raise entry_sources[key_path].error(f"base files form a cycle: {shown_chain}", key_path)
        base_data, base_sources = _load_resolved(resolved, chain + [(real, resolved)])
        _merge_into(merged, merged_sources, base_data, base_sources, "")
    _merge_into(merged, merged_sources, data, sources, "")
    return merged, merged_sources


# ---------------------------------------------------------------- overrides


def _parse_override_value(value_text: str, override: str) -> Any:
    loader = _LocatingLoader(value_text)
    try:
        _, value, _ = loader.load_located()
    except yaml.YAMLError as error:
        message, _ = _yaml_error_message(error)
        raise ConfigError(f"the value {value_text!r} is not valid: {message}", override=override) from error
    except _LocatedProblem as problem:
        raise ConfigError(
            f"the value {value_text!r} is not valid: {problem.message}", override=override
        ) from None
    finally:
        loader.dispose()
    return value


def _apply_override(data: dict, sources: dict[str, _Source], override: str) -> None:
    """Sets the value of one "key.path=value" override, creating missing mappings."""
    if not isinstance(override, str):
        raise TypeError(
            f"an override must be a 'key.path=value' string, "
            f"found {type(override).__name__} {override!r}"
        )
    key_text, separator, value_text = override.partition("=")
    if not separator:
        raise ConfigError(
            "expected the form 'key.path=value' (for example 'agent.learning_rate=3e-4'), "
            "found no '='",
            override=override,
        )
    key_text = key_text.strip()
    if not key_text:
        raise ConfigError("expected a key path before '=', found nothing", override=override)
    try:
        segments = _parse_key_path(key_text)
    except ConfigError as error:
        raise ConfigError(error.message, override=override) from None
    key_path = _format_key_path(segments)
    if segments[0] == BASE_KEY:
        raise ConfigError(
            f"'{BASE_KEY}' cannot be overridden: base files are resolved before overrides "
            f"are applied; name the base file in the YAML file instead",
            override=override,
            key_path=key_path,
        )
    value = _parse_override_value(value_text, override)
    override_source = _Source(override=override)

    container: Any = data
    container_path = ""
    for position, segment in enumerate(segments):
        is_last = position == len(segments) - 1
        segment_path = _extend_path(container_path, segment)
        where = sources.get(container_path)
        set_at = f" (set at {where})" if where is not None else ""
        if isinstance(segment, int):
            if not isinstance(container, list):
                raise ConfigError(
                    f"cannot index {container_path!r} with [{segment}]: expected a list there, "
                    f"found {_describe(container)}{set_at}",
                    override=override,
                    key_path=key_path,
                )
            if segment >= len(container):
                raise ConfigError(
                    f"index [{segment}] is out of range: {container_path!r} is "
                    f"{_describe(container)}{set_at}; overrides replace list items but do not add them",
                    override=override,
                    key_path=key_path,
                )
        else:
            if not isinstance(container, dict):
                raise ConfigError(
                    f"cannot set key {segment!r} inside {container_path!r}: expected a mapping "
                    f"there, found {_describe(container)}{set_at}",
                    override=override,
                    key_path=key_path,
                )
            if not is_last and segment not in container:
                if isinstance(segments[position + 1], int):
                    raise ConfigError(
                        f"{segment_path!r} does not exist, so it cannot be indexed with "
                        f"[{segments[position + 1]}]; overrides create mappings but not lists",
                        override=override,
                        key_path=key_path,
                    )
                container[segment] = {}
                sources[segment_path] = override_source
        if is_last:
            _drop_subtree(sources, segment_path)
            container[segment] = value
            for nested_path in _value_key_paths(value, segment_path):
                sources[nested_path] = override_source
        else:
            container = container[segment]
            container_path = segment_path


# ------------------------------------------------------------------- Config


class Config(collections.abc.Mapping):
    """A resolved configuration: bases merged, overrides applied.

    A read-only mapping. Its keys are the top-level keys; indexing, `get` and
    `in` also accept dotted key paths ("agent.layers[1].units"). Every value
    handed out is a deep copy, so consumers cannot change the config.

    Build one with `load_config`.

    Example:
        config = load_config("configs/quickstart.yaml", ["agent.learning_rate=3e-4"])
        units = config.get("agent.policy.layers[1].units", 64)
        if units <= 0:
            raise config.error("agent.policy.layers[1].units", f"expected > 0, found {units}")

    Attributes:
        source_path: the file the config was loaded from, as given.
        overrides: the command line overrides applied, in order.
    """

    def __init__(
        self,
        data: dict,
        sources: dict[str, _Source],
        source_path: str,
        overrides: tuple[str, ...],
    ) -> None:
        self._data = data
        self._sources = sources
        self.source_path = source_path
        self.overrides = overrides

    @property
    def data(self) -> dict:
        """The whole resolved config as a plain dict (a deep copy)."""
        return copy.deepcopy(self._data)

    def _lookup(self, key_path: str) -> Any:
        value: Any = self._data
        for segment in _parse_key_path(key_path):
            if isinstance(segment, int):
                if not isinstance(value, list) or segment >= len(value):
                    raise KeyError(key_path)
            elif not isinstance(value, dict) or segment not in value:
                raise KeyError(key_path)
            value = value[segment]
        return value

    def __getitem__(self, key_path: str) -> Any:
        """Returns a deep copy of the value at a dotted key path.

        Raises:
            KeyError: nothing is at `key_path`.
            ConfigError: `key_path` is malformed.
        """
        return copy.deepcopy(self._lookup(key_path))

    def get(self, key_path: str, default: Any = None) -> Any:
        """Returns a deep copy of the value at a dotted key path, or `default`.

        Args:
            key_path: for example "agent.policy.layers[1].units".
            default: returned when nothing is at `key_path`.

        Raises:
            ConfigError: `key_path` is malformed.
        """
        try:
            return self[key_path]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Config(source_path={self.source_path!r}, overrides={self.overrides!r}, data={self._data!r})"

    def _source_of(self, key_path: str) -> tuple[str, _Source]:
        segments = _parse_key_path(key_path)
        for length in range(len(segments), 0, -1):
            source = self._sources.get(_format_key_path(segments[:length]))
            if source is not None:
                return _format_key_path(segments), source
        return _format_key_path(segments), _Source(self.source_path)

    def location(self, key_path: str) -> str:
        """Says where a key was set: "configs/x.yaml:12" or "command line override 'a.b=3'".

        Keys inherited from a base file give that file and line. A key path
        that is not in the config gives the location of its closest existing
        parent (or the config file itself), which is where a missing key
        belongs.

        Raises:
            ConfigError: `key_path` is malformed.
        """
        return str(self._source_of(key_path)[1])

    def error(self, key_path: str, message: str) -> ConfigError:
        """Builds (does not raise) an error located at a key.

        Args:
            key_path: the offending key, for example "agent.network.type".
            message: what was expected and what was found.

        Returns:
            A ConfigError whose text reads
            "configs/x.yaml:12: agent.network.type: <message>".

        Raises:
            ConfigError: `key_path` is malformed.
        """
        canonical_path, source = self._source_of(key_path)
        return source.error(message, canonical_path)

    def save(self, run_dir: str | os.PathLike[str]) -> str:
        """Writes the resolved config to `run_dir/config.yaml`, atomically.

        The file loads back with `load_config` to the same data. The directory
        is created if missing.

        Returns:
            The path of the written file.

        Raises:
            ConfigError: the directory cannot be created or written.
        """
        run_dir = os.fspath(run_dir)
        header = [f"# Resolved configuration: {self.source_path!r} with its base files merged"]
        header += [f"# and command line override {override!r}" for override in self.overrides]
        text = "\n".join(header) + "\n" + yaml.safe_dump(
            self._data, sort_keys=False, allow_unicode=True, default_flow_style=False
        )
        target = os.path.join(run_dir, SAVED_CONFIG_FILENAME)
        try:
            os.makedirs(run_dir, exist_ok=True)
            descriptor, temporary_path = tempfile.mkstemp(
                prefix=f".{SAVED_CONFIG_FILENAME}.", suffix=".tmp", dir=run_dir
            )
        except OSError as error:
            raise ConfigError(
                f"cannot write the resolved config into run directory {run_dir!r}: {error.strerror}",
                path=target,
            ) from error
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            # mkstemp makes the file owner-only; a config is not secret.
            os.chmod(temporary_path, 0o644)
            # A reader (or a resumed run) sees the old file or the new one, never half of one.
            os.replace(temporary_path, target)
        except BaseException:
            if os.path.exists(temporary_path):
                os.unlink(temporary_path)
            raise
        return target


def load_config(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> Config:
    """Loads a YAML config file, its base files, and command line overrides.

    Args:
        path: the YAML file; its top level must be a mapping.
        overrides: "key.path=value" strings applied in order after the bases.
            Values are typed as YAML: "3" is an int, "0.5" a float, "true" a
            bool, "null" (or nothing) None, "[1,2]" a list, "abc" a string.
            Missing mappings on the way are created.

    Returns:
        The resolved Config.

    Raises:
        ConfigError: the file or a base file is missing, unreadable, not valid
            YAML, uses a disallowed tag, has duplicate or unaddressable keys,
            its bases form a cycle, or an override is malformed or does not fit.
        TypeError: `path` is not a path, or `overrides` is a single string.

    Example:
        config = load_config("configs/quickstart.yaml", ["agent.policy.units=64"])
    """
    if isinstance(overrides, (str, bytes)):
        raise TypeError(
            f"overrides must be a sequence of 'key.path=value' strings, found a single "
            f"{type(overrides).__name__} {overrides!r}; wrap it in a list"
        )
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a file path (str or os.PathLike), found {type(path).__name__} {path!r}"
        )
    display_path = os.fspath(path)
    if not isinstance(display_path, str):
        raise TypeError(f"path must be a text path, found {type(display_path).__name__} {display_path!r}")
    overrides = tuple(overrides)
    if not os.path.exists(display_path):
        raise ConfigError(
            f"config file not found (looked for {os.path.abspath(display_path)})", path=display_path
        )
    if not os.path.isfile(display_path):
        raise ConfigError("expected a YAML file, found a directory or special file", path=display_path)
    data, sources = _load_resolved(display_path, [(os.path.realpath(display_path), display_path)])
    for override in overrides:
        _apply_override(data, sources, override)
    return Config(data, sources, display_path, overrides)
