"""The model gate: one model call at a time, and a waiting plain pass goes before a waiting explain pass."""

import threading
import time

from serve.model_gate import ModelGate


def test_a_waiting_plain_pass_goes_before_an_explain_pass_that_waited_longer():
    gate = ModelGate()
    order: list[str] = []
    inside = 0
    most_inside = 0

    def call(name: str, urgent: bool) -> None:
        nonlocal inside, most_inside
        with gate.hold(urgent):
            inside += 1
            most_inside = max(most_inside, inside)
            order.append(name)
            time.sleep(0.01)
            inside -= 1

    with gate.hold(urgent=False):  # an explain pass in progress
        explain = threading.Thread(target=call, args=("explain", False))
        explain.start()
        time.sleep(0.05)  # the next explain pass is waiting first
        plain = threading.Thread(target=call, args=("plain", True))
        plain.start()
        while not gate.urgent_waiting:
            time.sleep(0.001)
    explain.join(5)
    plain.join(5)
    assert order == ["plain", "explain"]
    assert most_inside == 1
