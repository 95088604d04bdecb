"""On-board decoding time of the detached shadow: PEFT's model against ours, and stopping unsure answers early.

    .venv/bin/python benchmarks/bench_detached_decode.py [--adapter models/adapters/shadow] [--n 40] [--repeats 3]
                                                         [--threshold 0.75]

PEFT 0.21.2's ``DetachedShadowModel`` drops ``logits_to_keep`` and runs the 49,152-token LM head
over every prompt position; ``export.load_detached`` builds a subclass that runs it only where
generation reads (``_last_logits_model_class``). Both models share the same modules here, so the
weights are the same; each utterance is decoded by both in turn, ``--repeats`` times, and the
fastest time of each is kept. Prints the median per model, their ratio (one run, same machine
state) and whether every greedy output and confidence agree.

A third column decodes with ``give_up_below=--threshold``, as the auto policy does: an answer whose
probability falls under the threshold stops there and goes to the server. Its time is compared on
the utterances that end under the threshold (the ones escalated either way).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="models/adapters/shadow", help="Shadow adapter to export and decode.")
    parser.add_argument("--n", type=int, default=40, help="Dev-split utterances to decode (seed 1).")
    parser.add_argument("--repeats", type=int, default=3, help="Decodes per utterance and model; the fastest counts.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the robot's setting is 1).")
    parser.add_argument("--threshold", type=float, default=0.75, help="The auto policy's confidence threshold.")
    args = parser.parse_args(argv)

    import torch
    from peft.tuners.shadow import DetachedShadowModel

    from shadowpeft_ros.interpreter import data
    from shadowpeft_ros.interpreter.decoding import decode_plans
    from shadowpeft_ros.interpreter.export import load_detached
    from shadowpeft_ros.interpreter.interpreter import ensure_detached_export

    torch.set_num_threads(args.threads)
    ours, tokenizer = load_detached(str(ensure_detached_export(args.adapter)))
    peft_model = DetachedShadowModel(ours.backbone, ours.shadow_hidden_projection, ours.head).eval()
    texts = [e.text for e in data.generate("dev", args.n, seed=1)]
    stopping = f"load_detached, stop under {args.threshold:g}"
    runs = {"peft DetachedShadowModel": (peft_model, None), "load_detached (last logits)": (ours, None),
            stopping: (ours, args.threshold)}
    times = {name: [] for name in runs}
    same, unsure, wrong_stops = 0, [], 0
    for index, text in enumerate(texts):
        outputs = {}
        for name, (model, floor) in runs.items():
            best = float("inf")
            for _ in range(args.repeats):
                started = time.perf_counter()
                decoded = decode_plans(model, tokenizer, [text], give_up_below=floor)[0]
                best = min(best, time.perf_counter() - started)
            times[name].append(best)
            outputs[name] = decoded
        peft_out, ours_out, stopped = outputs.values()
        agree = (peft_out.text, round(peft_out.confidence, 4)) == (ours_out.text, round(ours_out.confidence, 4))
        same += agree
        if not agree:
            print(f"DIFFERENT {text!r}: {peft_out.text!r} {peft_out.confidence:.4f} vs {ours_out.text!r} "
                  f"{ours_out.confidence:.4f}")
        if ours_out.confidence < args.threshold:
            unsure.append(index)
        # A stop must only ever happen to an answer that ends under the threshold.
        wrong_stops += stopped.gave_up and ours_out.confidence >= args.threshold
    print(f"{len(texts)} dev utterances, fastest of {args.repeats} decodes each, {args.threads} thread(s)")
    for name, t in times.items():
        below = [t[i] for i in unsure]
        print(f"{name:36s} median {statistics.median(t) * 1000:6.1f} ms   under {args.threshold:g}: "
              f"median {statistics.median(below) * 1000 if below else float('nan'):6.1f} ms ({len(below)})")
    base, new, early = (statistics.median(t) for t in times.values())
    print(f"ratio last logits / PEFT's: {new / base:.3f}   identical outputs and confidences: {same}/{len(texts)}")
    if unsure:
        late = statistics.median([times["load_detached (last logits)"][i] for i in unsure])
        print(f"ratio stopping early / decoding to the end, on the {len(unsure)} answers under {args.threshold:g}: "
              f"{statistics.median([times[stopping][i] for i in unsure]) / late:.3f}")
    print(f"stops of answers that end at or above the threshold: {wrong_stops}")
    return 0 if same == len(texts) and not wrong_stops else 1


if __name__ == "__main__":
    raise SystemExit(main())
