"""The base of flatsync's model-based state machines: :class:`ConvergenceMachine`.

Re-exported by :mod:`flatsync.testing`; this module needs hypothesis.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from .._codecs._codec import Codec
from .._handlers._base import Handler
from .._tree._merge import apply_delta
from ._equal import assert_strict_equal
from ._harness import Convergence

__all__ = ["ConvergenceMachine"]


class ConvergenceMachine(RuleBasedStateMachine):
    """A hypothesis state machine whose replicas must follow a tracked source, step by step.

    The shared base of flatsync's own state machines (pyrsistent's model-based
    tests, with a :class:`Convergence` for the replicas). A subclass brings the
    state and the operations:

    * an ``@initialize`` rule that builds the source (and a plain-Python model
      of it) and calls :meth:`start`;
    * one ``@rule`` per operation, applied to the source and the model alike
      (so that a failure reads ``state.pop(...)`` and hypothesis's swarm
      testing can switch one operation off);
    * :meth:`check_model`, which asserts that the source matches the model;
    * maybe :meth:`after_tick`, for checks of its own after every tick.

    The base brings the rest:

    * two rules that tick: ``tick`` and ``tick_and_join`` (a tick after which
      a new late joiner is built from the snapshot), see :meth:`Convergence.tick`;
    * two invariants, checked after every step: ``source_matches_model``
      (:meth:`check_model`) and ``diff_explains_every_change`` (the snapshot
      at the last tick with ``diff()`` applied is ``snapshot()``);
    * the teardown, which :meth:`~Convergence.settle`\\ s the replicas, so that
      every run ends with the merged replica checked too.

    >>> from hypothesis import settings, strategies as st
    >>> from hypothesis.stateful import initialize, rule
    >>> from flatsync import DataHandler
    >>> from flatsync.testing import ConvergenceMachine, assert_strict_equal
    >>> class Scores(ConvergenceMachine):
    ...     @initialize()
    ...     def setup(self):
    ...         self.source, self.model = DataHandler(), {}
    ...         self.start(self.source)
    ...
    ...     @rule(name=st.sampled_from("abc"), score=st.integers())
    ...     def set_score(self, name, score):
    ...         self.source[name] = self.model[name] = score
    ...
    ...     @rule(name=st.sampled_from("abc"))
    ...     def forget(self, name):
    ...         self.source.pop(name, None), self.model.pop(name, None)
    ...
    ...     def check_model(self):
    ...         assert_strict_equal(self.source, self.model)
    >>> Scores.TestCase.settings = settings(max_examples=10, database=None)
    >>> Scores.TestCase().runTest()

    Attributes:
        codec: The codec of every packet (class attribute; ``None``, the
            default, is a new :class:`~flatsync.CborCodec` for each run).
        sync: The :class:`Convergence` that :meth:`start` made.
    """

    codec: ClassVar[Codec | None] = None

    sync: Convergence

    def start(self, source: Handler) -> Convergence:
        """Follow ``source`` from now on (it is committed): call it from an ``@initialize`` rule."""
        self.sync = Convergence(source, self.codec, after_tick=self.after_tick)
        return self.sync

    def check_model(self) -> None:
        """Assert that the source matches the model (after every step). Override it.

        Raises:
            AssertionError: they differ.
        """

    def after_tick(self, delta: Any) -> None:
        """Called after every tick with the decoded delta, once the replicas are checked.

        Override it for checks of your own (a replica more, a bound on what a
        tick ships, ...).
        """

    @rule()
    def tick(self) -> None:
        """Ship the source's delta to every replica, commit, and check them."""
        self.sync.tick()

    @rule()
    def tick_and_join(self) -> None:
        """A tick, then a new late joiner built from the snapshot."""
        self.sync.tick(join=True)

    @invariant()
    def source_matches_model(self) -> None:
        """:meth:`check_model`, after every step."""
        self.check_model()

    @invariant()
    def diff_explains_every_change(self) -> None:
        """After every step, not only at ticks: the last tick's snapshot + ``diff()`` is ``snapshot()``."""
        source = self.sync.source
        assert_strict_equal(apply_delta(self.sync.previous, source.diff()), source.snapshot())

    def teardown(self) -> None:
        """Settle the replicas (two ticks and the merged replica's check), if :meth:`start` ran."""
        if getattr(self, "sync", None) is not None:
            self.sync.settle()
