"""The YAML loader of the config file: PyYAML's safe loader (libyaml's parser where PyYAML was built
with it), built so that a config of 10,000 sources never holds the whole document's node tree.

A composed node costs several times the value it stands for (its marks, its tag, its attributes):
composing a big file before constructing it peaks at about 80 MB at 10,000 sources and 10,000 rules,
and the strings that live on in the config, scattered among those nodes, keep most of it from going
back to the system. So each item of a top-level list (`sources`, `rules`, `channels`) is constructed
as soon as it is composed and its nodes dropped, and the strings are fresh copies, one per distinct
value. What the loader returns, and every error it raises, is what the stock safe loader gives: an
item that defines an anchor or uses an alias is left to the stock construction of the document."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.events import AliasEvent, SequenceEndEvent
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

# libyaml's safe loader where PyYAML was built with it: several times faster, a fraction of the memory.
_SAFE_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LIBYAML = _SAFE_BASE is not yaml.SafeLoader
_MERGE = "tag:yaml.org,2002:merge"


class SafeLoader(Composer, _SAFE_BASE):  # type: ignore[valid-type,misc]
    """The safe loader, where a value it cannot build (an int of 5,000 digits, the date 2001-13-45)
    is a YAML error at that value's line, not a ValueError from deep inside PyYAML; its top-level
    lists' items are constructed one at a time (see the module's note)."""

    constructed_objects: dict[Node, Any]  # SafeConstructor's, unannotated in its stubs
    recursive_objects: dict[Node, Any]

    def __init__(self, stream: str) -> None:
        _SAFE_BASE.__init__(self, stream)
        self.anchors: dict[str, Node] = {}
        self._path: list[tuple[Node | None, object]] = []  # (parent, index) of the nodes being composed
        self._aliases = 0  # aliases composed so far
        self._strings: dict[str, str] = {}  # each distinct string value, copied once

    # --- composing: libyaml's events, composed here (libyaml's composer keeps every node) ---------

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if _LIBYAML:  # libyaml's wording, as its own composer words these errors
                event = self.peek_event()
                if event.anchor not in self.anchors:
                    raise ComposerError(None, None, "found undefined alias", event.start_mark)
        elif _LIBYAML:
            event = self.peek_event()
            if event.anchor is not None and event.anchor in self.anchors:
                raise ComposerError(
                    "found duplicate anchor; first occurrence",
                    self.anchors[event.anchor].start_mark,
                    "second occurrence",
                    event.start_mark,
                )
        self._path.append((parent, index))
        try:
            node = super().compose_node(parent, index)
        finally:
            self._path.pop()
        assert node is not None
        return node

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        """Composer.compose_sequence_node, with each item of a top-level list built at once."""
        early = self._top_level_list()
        start_event = self.get_event()
        tag = start_event.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, start_event.implicit)
        node = SequenceNode(tag, [], start_event.start_mark, None, flow_style=start_event.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        index = 0
        while not self.check_event(SequenceEndEvent):
            before = (len(self.anchors), self._aliases)
            item = self.compose_node(node, index)
            if early and isinstance(item, CollectionNode) and before == (len(self.anchors), self._aliases):
                item = self._built(item)
            node.value.append(item)
            index += 1
        end_event = self.get_event()
        node.end_mark = end_event.end_mark
        return node

    def _top_level_list(self) -> bool:
        """Whether the sequence being composed is the value of a key of the document's mapping (not a
        merge key's: `<<` needs its mappings as nodes)."""
        if len(self._path) != 2:
            return False
        (root_parent, _), (parent, key) = self._path
        return (
            root_parent is None
            and isinstance(parent, MappingNode)
            and isinstance(key, ScalarNode)
            and key.tag != _MERGE
        )

    def _built(self, item: CollectionNode) -> Node:
        """`item` constructed now (it has no anchor and no alias: nothing else can refer to its
        nodes), as a node that stands for the constructed value."""
        saved = self.constructed_objects, self.recursive_objects
        self.constructed_objects, self.recursive_objects = {}, {}
        try:
            value = self.construct_object(item, deep=True)
        finally:
            self.constructed_objects, self.recursive_objects = saved
        built = Node(item.tag, None, item.start_mark, item.end_mark)
        self.constructed_objects[built] = value
        return built

    # --- constructing ------------------------------------------------------------------------

    def construct_scalar(self, node: ScalarNode) -> Any:
        value = super().construct_scalar(node)
        if type(value) is not str:
            return value
        copy = self._strings.get(value)
        if copy is None:
            copy = self._strings[value] = value.encode("utf-8", "surrogatepass").decode(
                "utf-8", "surrogatepass"
            )
        return copy

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            detail = str(exc).split(";")[0]  # not "use sys.set_int_max_str_digits() ..."
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value: {detail}", node.start_mark
            ) from None
