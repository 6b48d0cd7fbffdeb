"""SIGTERM stops a run once: the second one, while unsnap runs, is ignored."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from hostbook.jobs.run.sigterm import Interrupted, stop_on_sigterm


def _terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)  # the handler runs before this returns


def test_sigterm_raises_interrupted_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted, match=r"terminated \(SIGTERM\)"), stop_on_sigterm():
        _terminate_self()
    assert signal.getsignal(signal.SIGTERM) is before
    assert Interrupted.exit_code == 3


def test_a_second_sigterm_while_stopping_does_not_cut_the_cleanup_short() -> None:
    cleaned = []
    with pytest.raises(Interrupted), stop_on_sigterm():
        try:
            _terminate_self()
        finally:
            _terminate_self()  # systemd's second signal, during unsnap
            cleaned.append("unsnap")
    assert cleaned == ["unsnap"]


def test_outside_the_main_thread_no_handler_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def inside() -> None:
        with stop_on_sigterm():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    assert seen == [before]
