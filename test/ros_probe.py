"""A process that speaks the colcon-generated types, for test_messages.py and test_transport_processes.py.

Run with the environment of the colcon install (`source install/setup.bash`): there ``shadowpeft_ros``
is the installed copy, with the generated ``shadowpeft_ros.msg``. Reads one JSON request on stdin and
prints JSON lines:

- ``{"mode": "fields", "wires": {kind: [wire, ...]}}``: each generated class's fields and types, and
  each wire dict after a trip through the generated class and its C serialisation.
- ``{"mode": "e2e", ...}``: drive the interpreter's lifecycle over its services, publish
  VoiceCommands and a MotionCommand in the generated types, and print what comes back.
"""

import json
import sys
import time


def fields(request):
    from rclpy.serialization import deserialize_message, serialize_message

    import shadowpeft_ros.msg as generated
    from shadowpeft_ros.nodes import transport

    out = {"module": generated.__file__, "classes": {}, "round_trips": {}}
    for name in ("VoiceCommand", "MotionCommand", "PlanOutcome", "MotionAction", "StageLatency"):
        out["classes"][name] = getattr(generated, name).get_fields_and_field_types()
    for kind, wires in request["wires"].items():
        cls = getattr(generated, kind)
        trips = []
        for wire in wires:
            msg = transport.wire_to_ros(wire, cls)
            back = deserialize_message(serialize_message(msg), cls)
            trips.append(transport.ros_to_wire(back))
        out["round_trips"][kind] = trips
    print(json.dumps(out, allow_nan=True), flush=True)


def e2e(request):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rclpy.node import Node

    from shadowpeft_ros.nodes import transport
    from shadowpeft_ros.msg import MotionCommand, PlanOutcome, VoiceCommand
    from shadowpeft_ros.nodes.common import COMMAND_QOS

    def say(**kw):
        print(json.dumps(kw, allow_nan=True), flush=True)

    rclpy.init()
    node = Node("ros_probe")
    received = []
    node.create_subscription(MotionCommand, "/dog/plan",
                             lambda m: received.append(("plan", transport.ros_to_wire(m))), COMMAND_QOS)
    node.create_subscription(PlanOutcome, "/dog/outcome",
                             lambda m: received.append(("outcome", transport.ros_to_wire(m))), COMMAND_QOS)
    diagnostics = {}

    def diagnostics_callback(array):
        for status in array.status:
            diagnostics[status.name] = {"level": status.level[0] if isinstance(status.level, bytes) else status.level,
                                        "message": status.message,
                                        "values": {kv.key: kv.value for kv in status.values}}

    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics_callback, 10)
    voice_pub = node.create_publisher(VoiceCommand, "/voice/command", COMMAND_QOS)
    plan_pub = node.create_publisher(MotionCommand, "/dog/plan", COMMAND_QOS)

    def spin_until(predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            rclpy.spin_once(node, timeout_sec=0.05)
        return predicate()

    def call(client, req, timeout):
        future = client.call_async(req)
        spin_until(future.done, timeout)
        return future.result()

    try:
        get_state = node.create_client(GetState, "/interpreter/get_state")
        change = node.create_client(ChangeState, "/interpreter/change_state")
        if not spin_until(lambda: get_state.service_is_ready() and change.service_is_ready(), 60):
            return say(error="the interpreter's lifecycle services did not appear")
        say(state=call(get_state, GetState.Request(), 10).current_state.label)
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            result = call(change, ChangeState.Request(transition=Transition(id=transition)), 300)
            say(transition=transition, success=bool(result and result.success),
                state=call(get_state, GetState.Request(), 10).current_state.label)
        # The interpreter and the motion node both listen on /voice/command; the motion node on /dog/plan.
        if not spin_until(lambda: voice_pub.get_subscription_count() >= 2 and plan_pub.get_subscription_count() >= 2,
                          30):
            return say(error="subscribers did not match", voice=voice_pub.get_subscription_count(),
                       plan=plan_pub.get_subscription_count())
        say(topics=sorted([name, types] for name, types in node.get_topic_names_and_types()
                          if name in ("/voice/command", "/dog/plan", "/dog/outcome")))
        final = ("done", "stopped", "refused", "failed")

        def ended(ids):
            done = {w["command_id"] for kind, w in received if kind == "outcome" and w["outcome"] in final}
            return set(ids) <= done

        # Plans first, to their end: the stop that comes after would otherwise preempt them.
        for wire in request["plans"]:
            plan_pub.publish(transport.wire_to_ros(wire, MotionCommand))
        spin_until(lambda: ended(w["command_id"] for w in request["plans"]), request.get("timeout", 120))
        for wire in request["voice"]:
            voice_pub.publish(transport.wire_to_ros(wire, VoiceCommand))
        spin_until(lambda: ended(w["command_id"] for w in request["voice"]), request.get("timeout", 120))
        spin_until(lambda: {"motion: executor", "interpreter: engines"} <= set(diagnostics), 10)
        for kind, wire in received:
            say(kind=kind, wire=wire)
        say(diagnostics=diagnostics)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    req = json.loads(sys.stdin.read())
    {"fields": fields, "e2e": e2e}[req["mode"]](req)
