"""Plain commands, said the way most people say them: does each path get the whole plan?

    .venv/bin/python benchmarks/bench_plain_commands.py [--adapter models/adapters/shadow] [--attached]

The dev split measures paraphrases; the plainest phrasings train (``data.CORE_PHRASINGS``), so it
cannot show whether "turn left and sit" keeps its sit. These 21 sentences are our own (none is an
evaluation case) and mostly combine plain phrasings into 2-4 actions; the last five say a count,
"come here", and a half after its unit. Each is decoded by the detached shadow (and with
``--attached`` by backbone + shadow) and compared with its plan as ``shadowpeft eval`` compares
plans ("turn left" is "turn left 90"). Prints each output with its confidence and the number right
per path.
"""

from __future__ import annotations

import argparse

PLAIN_COMMANDS = (
    ("walk forward one meter, then turn left and sit", "move forward 1 m ; turn left ; sit"),
    ("go forward two meters, turn right, then lie down", "move forward 2 m ; turn right ; lie_down"),
    ("sit, then stand up, then dance", "sit ; stand ; dance"),
    ("walk to the right half a meter, wait two seconds, then walk to the left half a meter",
     "move right 0.5 m ; wait 2 s ; move left 0.5 m"),
    ("turn left and sit", "turn left ; sit"),
    ("walk forward 1 meter and sit", "move forward 1 m ; sit"),
    ("move forward 1 meter and then move back 1 meter", "move forward 1 m ; move backward 1 m"),
    ("stand up", "stand"),
    ("lie down please", "lie_down"),
    ("move left two meters", "move left 2 m"),
    ("turn right, walk forward three meters, then wave", "turn right ; move forward 3 m ; wave"),
    ("back up one meter and spin", "move backward 1 m ; spin"),
    ("stop", "stop"),
    ("wait five seconds, then sit down", "wait 5 s ; sit"),
    ("turn around and lie down", "turn left 180 ; lie_down"),
    ("walk forward two meters, turn left, walk forward one meter, then sit",
     "move forward 2 m ; turn left ; move forward 1 m ; sit"),
    # Counts repeat an action; "come here" is a walk toward the speaker; the half may follow the unit.
    ("spin twice", "spin ; spin"),
    ("turn left two times", "turn left ; turn left"),
    ("wave three times", "wave ; wave ; wave"),
    ("come here", "move forward"),
    ("walk forward a meter and a half", "move forward 1.5 m"),
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="models/adapters/shadow", help="Shadow adapter (a checkpoint works).")
    parser.add_argument("--attached", action="store_true", help="Also decode with backbone + shadow.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads.")
    args = parser.parse_args(argv)

    import torch

    from shadowpeft_ros.evaluation.metrics import plans_equal
    from shadowpeft_ros.interpreter.compact import parse_compact
    from shadowpeft_ros.interpreter.engine import AttachedEngine, DetachedEngine
    from shadowpeft_ros.interpreter.interpreter import ensure_detached_export

    torch.set_num_threads(args.threads)
    engines = {"detached": DetachedEngine.from_export(str(ensure_detached_export(args.adapter)))}
    if args.attached:
        engines["attached"] = AttachedEngine.from_adapter(args.adapter)
    right = {path: 0 for path in engines}
    for text, target in PLAIN_COMMANDS:
        print(text)
        for path, engine in engines.items():
            result = engine.plan(text)
            ok = plans_equal(result.plan, parse_compact(target))
            right[path] += ok
            print(f"   {path:8s} {'right' if ok else 'WRONG'} p={result.confidence:.2f}  {result.raw_text}")
    print(f"\n{args.adapter}: " + ", ".join(f"{path} {n}/{len(PLAIN_COMMANDS)} right" for path, n in right.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
