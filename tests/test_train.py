"""Training: exact resume (step, optimizer state, data order) and the DDP path on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import load_script
from mspviewer.codec import tiny_config
from mspviewer.train.loop import TrainSettings, Trainer


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for index in range(3):
        yy, xx = np.mgrid[0:96, 0:120]
        image = (128 + 100 * np.sin(xx / (5 + index)) * np.cos(yy / 7))[..., None]
        image = np.clip(image + rng.normal(0, 10, (96, 120, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"{index}.png")
    return folder


def settings_for(folder, run_dir, steps, precision="bf16") -> TrainSettings:
    return TrainSettings(data=str(folder), run_dir=str(run_dir), steps=steps, batch_size=2,
                         crop_schedule=((0, 64), (4, 48)), warmup_steps=3, lr_drops=(5,),
                         precision=precision, checkpoint_minutes=60, log_every=1,
                         model_config=tiny_config().to_dict())


def test_resume_continues_exactly(image_folder, tmp_path):
    straight = Trainer(settings_for(image_folder, tmp_path / "a", 6), progress=False)
    straight.run()
    first = Trainer(settings_for(image_folder, tmp_path / "b", 3), progress=False)
    first.run()
    resumed = Trainer(settings_for(image_folder, tmp_path / "b", 6), progress=False)
    resumed.run(resume=True)
    assert resumed.step == straight.step == 6
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    a, b = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    for index, state in a["state"].items():
        assert torch.equal(state["exp_avg"], b["state"][index]["exp_avg"])
        assert torch.equal(state["exp_avg_sq"], b["state"][index]["exp_avg_sq"])
        assert torch.equal(state["step"], b["state"][index]["step"])
    for key, value in straight.ema.state_dict().items():
        assert torch.equal(value, resumed.ema.state_dict()[key]), key
    logs = [[json.loads(line) for line in open(tmp_path / run / "log.jsonl")] for run in "ab"]
    assert [r["step"] for r in logs[1]] == list(range(1, 7))
    for x, y in zip(logs[0], logs[1]):  # same batches, λ, crops, losses
        assert (x["lambda"], x["crop"], x["loss"]) == (y["lambda"], y["crop"], y["loss"])


def test_a_resumed_run_logs_each_step_once(image_folder, tmp_path):
    """Steps logged after the last checkpoint (a run killed before it could save) are taken
    again on resume: the log keeps the resumed run's lines, once, and drops a cut line."""
    run_dir = tmp_path / "killed"
    Trainer(settings_for(image_folder, run_dir, 3), progress=False).run()
    log = run_dir / "log.jsonl"
    lines = log.read_text().splitlines()
    stale = [json.dumps({**json.loads(lines[-1]), "step": step, "loss": -1.0}) for step in (4, 5)]
    log.write_text("\n".join(lines + stale) + '\n{"step": 6, "lo')  # killed mid-write
    leftover = run_dir / ".checkpoint.pt.0badf00d.tmp"  # killed mid-save, too
    leftover.write_bytes(b"part of a checkpoint")
    Trainer(settings_for(image_folder, run_dir, 6), progress=False).run(resume=True)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7))
    assert all(r["loss"] != -1.0 for r in records)
    assert not leftover.exists()


def test_cuda_asked_where_there_is_none_is_a_clear_error(image_folder, tmp_path):
    import dataclasses

    from mspviewer.errors import MSPViewerError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    settings = dataclasses.replace(settings_for(image_folder, tmp_path / "r", 1), device="cuda")
    with pytest.raises(MSPViewerError, match="no CUDA device"):
        Trainer(settings, progress=False)


def test_batches_are_a_function_of_the_step(image_folder):
    from mspviewer.train.data import CropSampler, list_images

    sampler = CropSampler(list_images(image_folder), 48, seed=5)
    assert torch.equal(sampler.batch(7, 3), sampler.batch(7, 3))
    assert not torch.equal(sampler.batch(7, 3), sampler.batch(8, 3))
    assert not torch.equal(sampler.batch(7, 3, rank=0), sampler.batch(7, 3, rank=1))


def test_ddp_with_two_cpu_processes(image_folder, tmp_path):
    run_dir = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--standalone", "-m", "mspviewer", "train", str(image_folder),
               "--run-dir", str(run_dir), "--steps", "3", "--batch-size", "1", "--crop", "48",
               "--preset", "tiny", "--no-progress", "--warmup", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 3
    assert [s["processes"] for s in checkpoint["segments"]] == [2]
    log = [json.loads(line) for line in open(run_dir / "log.jsonl")]
    assert log[-1]["step"] == 3 and np.isfinite(log[-1]["loss"])
    # The same command in one process trains on rank 0's crops alone: averaging in rank 1's
    # gradients must give other weights (two unconnected processes would not).
    from mspviewer.cli import main
    assert main(["train", str(image_folder), "--run-dir", str(tmp_path / "one")]
                + command[command.index("--steps"):]) == 0
    single = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    assert single["step"] == 3 and [s["processes"] for s in single["segments"]] == [1]
    assert any(not torch.equal(value, single["model"][key])
               for key, value in checkpoint["model"].items())


def test_train_command_tears_down_its_process_group(image_folder, tmp_path):
    # a gloo group left alive at exit can abort the process (SIGABRT) during interpreter
    # finalisation; the command must end the group it trained in, also when training fails
    import torch.distributed as dist
    from mspviewer.cli import main

    for run, arguments in (("ok", ["--steps", "1"]), ("fails", ["--steps", "1", "--resume"])):
        dist.init_process_group("gloo", rank=0, world_size=1,
                                store=dist.FileStore(str(tmp_path / f"store-{run}"), 1))
        main(["train", str(image_folder), "--run-dir", str(tmp_path / run), "--batch-size", "1",
              "--crop", "48", "--preset", "tiny", "--no-progress", "--warmup", "1"] + arguments)
        assert not dist.is_initialized()


def test_resume_without_checkpoint_is_an_error(image_folder, tmp_path):
    from mspviewer.errors import MSPViewerError

    with pytest.raises(MSPViewerError, match="no checkpoint"):
        Trainer(settings_for(image_folder, tmp_path / "none", 2), progress=False).run(resume=True)
    assert not (tmp_path / "none").exists()  # nothing made for a run that is not there


def test_a_run_still_going_keeps_its_folder_to_itself(image_folder, tmp_path):
    """A second process on a run folder in use (its lock held) is refused before it touches
    anything: not the checkpoint, not the log, not the first run's checkpoint being written."""
    from mspviewer.errors import TrainingError
    from mspviewer.train.run_lock import exclusive_run_folder

    run_dir = tmp_path / "busy"
    Trainer(settings_for(image_folder, run_dir, 2), progress=False).run()
    in_flight = run_dir / ".checkpoint.pt.12345678.tmp"  # the running one's save
    in_flight.write_bytes(b"being written")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with exclusive_run_folder(run_dir):  # as the running process holds it
        with pytest.raises(TrainingError, match="another training process is running"):
            Trainer(settings_for(image_folder, run_dir, 4), progress=False).run(resume=True)
        assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    result = Trainer(settings_for(image_folder, run_dir, 4), progress=False).run(resume=True)
    assert result["step"] == 4 and not in_flight.exists()  # free again: resumed, cleaned


def test_the_run_lock_on_a_system_without_flock_locks_a_byte(tmp_path, monkeypatch):
    """Where there is no fcntl (Windows), the lock is msvcrt's on the lock file's first byte:
    a second holder is refused with the same message, and the lock is free again once the
    first holder's file is closed. (msvcrt is stood in for by a fake that keeps its locks
    per file, as Windows does, and frees them when the descriptor is closed.)"""
    import os
    import sys
    import types

    from mspviewer.errors import TrainingError
    from mspviewer.train.run_lock import exclusive_run_folder

    held: dict[int, int] = {}  # inode → descriptor holding its first byte
    calls = []

    def locking(fd, mode, count):
        calls.append((os.lseek(fd, 0, os.SEEK_CUR), mode, count))
        inode = os.fstat(fd).st_ino
        holder = held.get(inode)
        if holder is not None and holder != fd:
            try:
                os.fstat(holder)
            except OSError:  # closed: the system freed its lock
                holder = None
        if holder is not None and holder != fd:
            raise PermissionError(13, "Permission denied")
        held[inode] = fd

    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl → ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", types.SimpleNamespace(LK_NBLCK=2,
                                                                     locking=locking))
    run_dir = tmp_path / "run"
    with exclusive_run_folder(run_dir):
        with pytest.raises(TrainingError, match="another training process is running"):
            with exclusive_run_folder(run_dir):
                pass
    with exclusive_run_folder(run_dir):  # the first holder's file closed: free again
        pass
    assert calls == [(0, 2, 1)] * 3


def test_a_fresh_run_never_writes_over_an_earlier_run(image_folder, tmp_path, capsys):
    """Without --resume, a run folder holding a checkpoint (or the log of a run that stopped
    before its first checkpoint) is refused before any step, in the core and on the command
    line (exit 2, one line), and the checkpoint and log are left as they were."""
    from mspviewer.cli import main
    from mspviewer.errors import TrainingError

    run_dir = tmp_path / "run"
    Trainer(settings_for(image_folder, run_dir, 2, "fp32"), progress=False).run()
    checkpoint, log = run_dir / "checkpoint.pt", run_dir / "log.jsonl"
    before = checkpoint.read_bytes(), log.read_bytes()

    again = Trainer(settings_for(image_folder, run_dir, 1, "fp32"), progress=False)
    with pytest.raises(TrainingError, match="already holds a training checkpoint.*--resume"):
        again.run()
    assert again.step == 0
    capsys.readouterr()
    code = main(["train", str(image_folder), "--run-dir", str(run_dir), "--steps", "1",
                 "--batch-size", "1", "--crop", "48", "--preset", "tiny", "--no-progress",
                 "--precision", "fp32"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "already holds a training checkpoint" in err and "--resume" in err
    assert "--run-dir" in err
    assert (checkpoint.read_bytes(), log.read_bytes()) == before

    checkpoint.unlink()  # as after a run killed before its first checkpoint
    with pytest.raises(TrainingError, match="log of an earlier run"):
        Trainer(settings_for(image_folder, run_dir, 1, "fp32"), progress=False).run()
    assert log.read_bytes() == before[1] and not checkpoint.exists()


def test_changed_settings_are_reported(image_folder, tmp_path, capsys):
    Trainer(settings_for(image_folder, tmp_path / "c", 2), progress=False).run()
    changed = settings_for(image_folder, tmp_path / "c", 3)
    changed.learning_rate = 5e-5
    Trainer(changed, progress=False).run(resume=True)
    assert "learning_rate: 0.0001 → 5e-05" in capsys.readouterr().err


def test_resume_takes_the_runs_settings_unless_given_again(image_folder, tmp_path, capsys,
                                                           monkeypatch):
    """`train --resume` with only --steps continues the run as it was set up (its learning
    rate, crops, drops, λ ladder), not with the command line's defaults; an option given
    again still changes its setting, and says so. The checkpoint is read once for both."""
    from mspviewer.cli import main
    from mspviewer.train import checkpoint as checkpoint_module
    from mspviewer.train.checkpoint import read_checkpoint

    run_dir = tmp_path / "run"
    common = [str(image_folder), "--run-dir", str(run_dir), "--no-progress",
              "--precision", "fp32", "--checkpoint-minutes", "60"]
    assert main(["train", *common, "--preset", "tiny", "--steps", "2", "--batch-size", "1",
                 "--crop", "0:48,3:32", "--lr", "3e-4", "--warmup", "1", "--lr-drop", "3",
                 "--seed", "7", "--ema-decay", "0.5", "--lambdas", "0.004", "0.02"]) == 0
    first = read_checkpoint(run_dir / "checkpoint.pt")["settings"]
    capsys.readouterr()
    reads = []
    load_tensor_file = checkpoint_module.load_tensor_file
    monkeypatch.setattr(checkpoint_module, "load_tensor_file",
                        lambda path, *rest: reads.append(path) or load_tensor_file(path, *rest))
    assert main(["train", *common, "--resume", "--steps", "3"]) == 0
    assert reads == [run_dir / "checkpoint.pt"]
    monkeypatch.undo()
    resumed = read_checkpoint(run_dir / "checkpoint.pt")
    assert resumed["step"] == 3
    assert "changed settings" not in capsys.readouterr().err
    assert {**first, "steps": 3} == resumed["settings"]
    assert resumed["settings"]["learning_rate"] == 3e-4
    assert list(resumed["settings"]["model_config"]["rate"]["lambdas"]) == [0.004, 0.02]

    assert main(["train", *common, "--resume", "--steps", "4", "--lr", "1e-4"]) == 0
    assert "learning_rate: 0.0003 → 0.0001" in capsys.readouterr().err
    # half of the model setting given again: the other half is still the run's
    for again in (["--preset", "tiny"], ["--lambdas", "0.004", "0.02"]):
        assert main(["train", *common, "--resume", "--steps", "5", *again]) == 0, again
        assert "changed settings" not in capsys.readouterr().err
    settings = read_checkpoint(run_dir / "checkpoint.pt")["settings"]
    assert settings["learning_rate"] == 1e-4 and settings["seed"] == 7


def test_auto_precision_follows_the_hardware(monkeypatch):
    from mspviewer.train import loop

    cpu = torch.device("cpu")
    assert loop.resolve_precision("fp32", cpu) == "fp32"
    assert loop.resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: False)
    assert loop.resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: True)
    assert loop.resolve_precision("auto", cpu) == "bf16"


@pytest.mark.parametrize("precision, channels_last", [("bf16", True), ("fp32", False)])
def test_the_model_trains_in_the_layout_of_its_precision(image_folder, tmp_path, precision,
                                                         channels_last):
    trainer = Trainer(settings_for(image_folder, tmp_path / precision, 1, precision),
                      progress=False)
    conv_weights = [p for p in trainer.model.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert conv_weights
    for weight in conv_weights:
        assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        assert weight.is_contiguous() != channels_last
    trainer.run(resume=False)
    assert trainer.step == 1


def test_compile_covers_every_network_and_leaves_the_gains_eager():
    """Every parameter is in exactly one compiled network, except the λ ladder's gains,
    which the eager forward applies."""
    from mspviewer.codec.model import MSPCodec
    from mspviewer.train.compilation import trained_networks

    model = MSPCodec(tiny_config())
    compiled = [id(p) for network in trained_networks(model) for p in network.parameters()]
    gains = {id(p) for p in model.gains.parameters()}
    assert len(compiled) == len(set(compiled))
    assert set(compiled) | gains == {id(p) for p in model.parameters()}
    assert not set(compiled) & gains


def test_compile_without_a_cpp_compiler_is_refused_before_any_step(image_folder, tmp_path,
                                                                   monkeypatch):
    import dataclasses

    from mspviewer.errors import TrainingError
    from mspviewer.train import compilation

    monkeypatch.setattr(compilation.shutil, "which", lambda name: None)
    settings = dataclasses.replace(settings_for(image_folder, tmp_path / "run", 2),
                                   compile_networks=True)
    with pytest.raises(TrainingError, match="C\\+\\+ compiler"):
        Trainer(settings, progress=False).run()
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.slow
def test_compiled_networks_train_like_eager_ones_and_resume_eagerly(image_folder, tmp_path):
    """--compile changes the kernels, not the run: the same losses (fp32, to rounding), the
    same checkpoint keys, and an eager trainer resumes the compiled run's checkpoint."""
    from mspviewer.cli import main

    from torch._dynamo.utils import counters

    eager = Trainer(settings_for(image_folder, tmp_path / "eager", 3, "fp32"), progress=False)
    eager.run()
    graphs_before = counters["stats"]["unique_graphs"]
    main(["train", str(image_folder), "--run-dir", str(tmp_path / "compiled"), "--preset",
          "tiny", "--no-progress", "--precision", "fp32", "--steps", "3", "--batch-size", "2",
          "--crop", "0:64,4:48", "--warmup", "3", "--lr-drop", "5", "--compile"])
    assert counters["stats"]["unique_graphs"] > graphs_before  # it did compile
    logs = [[json.loads(line) for line in open(tmp_path / run / "log.jsonl")]
            for run in ("eager", "compiled")]
    a, b = logs[0][-1], logs[1][-1]  # the command logs every 20th step and the last
    assert (a["step"], a["lambda"], a["crop"]) == (b["step"], b["lambda"], b["crop"]) == \
        (3, a["lambda"], 64)
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-3)
    saved = torch.load(tmp_path / "compiled" / "checkpoint.pt", weights_only=True)
    assert saved["settings"]["compile_networks"] is True
    assert saved["model"].keys() == eager.model.state_dict().keys()
    resumed = Trainer(settings_for(image_folder, tmp_path / "compiled", 4, "fp32"),
                      progress=False)
    resumed.run(resume=True)
    assert resumed.step == 4 and not resumed.settings.compile_networks


def test_tuples_and_lists_are_not_reported_as_changes():
    from mspviewer.train.loop import changed_settings

    saved = {"crop_schedule": ((0, 128), (60000, 256)), "lr_drops": (300000,), "seed": 0}
    current = {"crop_schedule": [[0, 128], [60000, 256]], "lr_drops": [300000], "seed": 0}
    assert changed_settings(saved, current) == []
    assert changed_settings(saved, dict(current, seed=1)) == ["seed: 0 → 1"]


def test_unusable_data_or_foreign_checkpoint_are_training_errors(image_folder, tmp_path):
    import dataclasses

    from mspviewer.codec import ModelConfig
    from mspviewer.errors import TrainingError

    too_large = dataclasses.replace(settings_for(image_folder, tmp_path / "big", 2, "fp32"),
                                    crop_schedule=((0, 256),))
    with pytest.raises(TrainingError, match="256"):
        Trainer(too_large, progress=False).run()
    assert not (tmp_path / "big" / "checkpoint.pt").exists()  # no step ran: nothing saved

    Trainer(settings_for(image_folder, tmp_path / "run", 1, "fp32"), progress=False).run()
    foreign = dataclasses.replace(settings_for(image_folder, tmp_path / "run", 2, "fp32"),
                                  model_config=ModelConfig().to_dict())
    with pytest.raises(TrainingError, match="another model configuration"):
        Trainer(foreign, progress=False).run(resume=True)


def test_weight_average_follows_the_optimiser_steps(image_folder, tmp_path):
    """After two steps with decay 0.25 the average is 0.25²·w₀ + 0.25·0.75·w₁ + 0.75·w₂,
    from snapshots of the weights; export ships it by default and the raw weights on request."""
    import dataclasses

    from mspviewer.codec.weights import load_model
    from mspviewer.train.export import export_checkpoint

    settings = dataclasses.replace(settings_for(image_folder, tmp_path / "ema", 2, "fp32"),
                                   ema_decay=0.25)
    trainer = Trainer(settings, progress=False)
    snapshots = [{n: p.detach().clone() for n, p in trainer.model.named_parameters()}]
    for _ in range(2):
        assert trainer.train_step(trainer.model) is not None
        snapshots.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})
    w0, w1, w2 = snapshots
    name = next(n for n in w0 if not torch.equal(w0[n], w2[n]))  # a parameter that moved
    for key in w0:
        expected = 0.0625 * w0[key] + 0.1875 * w1[key] + 0.75 * w2[key]
        torch.testing.assert_close(trainer.ema.state_dict()[key], expected, rtol=0, atol=1e-6)
    trainer.save_checkpoint()

    exported = {}
    for choice in ("ema", "raw"):
        card = export_checkpoint(trainer.checkpoint_path, tmp_path / f"{choice}.pt", "t",
                                 weights=choice)
        exported[choice] = dict(load_model(tmp_path / f"{choice}.pt").named_parameters())
        assert ("moving average" in card["weights"]) == (choice == "ema")
    half = torch.float16  # the shipped file stores half precision
    assert torch.equal(exported["ema"][name].half(), trainer.ema.state_dict()[name].to(half))
    assert torch.equal(exported["raw"][name].half(), w2[name].to(half))
    assert not torch.equal(exported["ema"][name], exported["raw"][name])


def test_the_checkpoint_and_the_card_say_where_each_part_of_the_run_ran(image_folder,
                                                                        tmp_path):
    """Each resumed part of a run is a segment (steps, precision, device, wall time); a
    checkpoint written before segments existed counts its steps as not recorded."""
    from mspviewer.train.export import export_checkpoint
    from mspviewer.train.segments import describe_hardware

    run_dir = tmp_path / "segments"
    Trainer(settings_for(image_folder, run_dir, 2, "fp32"), progress=False).run()
    checkpoint = run_dir / "checkpoint.pt"
    payload = torch.load(checkpoint, weights_only=True)
    assert [(s["first_step"], s["last_step"]) for s in payload["segments"]] == [(0, 2)]
    assert payload["segments"][0]["wall_seconds"] == pytest.approx(payload["wall_seconds"])
    del payload["segments"]  # as written before segments were recorded
    torch.save(payload, checkpoint)

    Trainer(settings_for(image_folder, run_dir, 4, "fp32"), progress=False).run(resume=True)
    Trainer(settings_for(image_folder, run_dir, 5, "fp32"), progress=False).run(resume=True)
    trainer = Trainer(settings_for(image_folder, run_dir, 6, "bf16"), progress=False)
    trainer.run(resume=True)
    segments = torch.load(checkpoint, weights_only=True)["segments"]
    assert [(s["first_step"], s["last_step"], s.get("precision")) for s in segments] == \
        [(0, 2, None), (2, 4, "fp32"), (4, 5, "fp32"), (5, 6, "bf16")]
    assert segments[0]["recorded"] is False
    assert sum(s["wall_seconds"] for s in segments) == pytest.approx(trainer.wall_seconds)

    card = export_checkpoint(checkpoint, tmp_path / "m.pt", "t")
    # The two fp32 parts on this machine read as one; the bf16 part stays apart.
    assert [(s["first_step"], s["last_step"]) for s in card["segments"]] == \
        [(0, 2), (2, 5), (5, 6)]
    text = (tmp_path / "m.md").read_text()
    assert "steps 0–2 (2 steps" in text and "not recorded" in text
    hardware = describe_hardware(torch.device("cpu"))
    assert "steps 2–5 (3 steps" in text and f"fp32 on cpu ({hardware}, " in text
    assert "steps 5–6 (1 step," in text and f"bf16 on cpu ({hardware}, " in text
    assert "fp32 on cpu, " not in text.split("- Training:")[1].split("\n")[0]


def test_compiled_and_eager_parts_of_a_run_stay_apart_on_the_card():
    """A compiled segment says so on its card line and does not merge with eager steps on the
    same hardware; a segment from before "compiled" was recorded reads as eager."""
    from mspviewer.train.segments import close_segment, merged, open_segment, segment_line

    cpu = torch.device("cpu")
    old = open_segment(0, 0.0, cpu, "bf16", 1, compiled=False)
    close_segment(old, 10, 10.0)
    del old["compiled"]  # as written before it was recorded
    eager = open_segment(10, 10.0, cpu, "bf16", 1, compiled=False)
    close_segment(eager, 20, 20.0)
    compiled = open_segment(20, 20.0, cpu, "bf16", 1, compiled=True)
    close_segment(compiled, 30, 25.0)
    lines = [segment_line(s) for s in merged([old, eager, compiled])]
    assert len(lines) == 2 and lines[0].startswith("steps 0–20 ")
    assert "torch.compile" not in lines[0]
    assert lines[1].startswith("steps 20–30 ") and "torch.compile), 0.50 s per step" in lines[1]


def test_a_checkpoint_without_an_average_starts_one_at_its_weights(image_folder, tmp_path):
    Trainer(settings_for(image_folder, tmp_path / "old", 2), progress=False).run()
    checkpoint = tmp_path / "old" / "checkpoint.pt"
    payload = torch.load(checkpoint, weights_only=True)
    del payload["ema"]
    torch.save(payload, checkpoint)
    resumed = Trainer(settings_for(image_folder, tmp_path / "old", 2), progress=False)
    resumed.load_checkpoint()
    for name, p in resumed.model.named_parameters():
        assert torch.equal(resumed.ema.state_dict()[name], p.float()), name


def test_a_hand_off_copy_resumes_the_same_steps_from_the_same_weights(image_folder, tmp_path,
                                                                       capsys):
    """The committed copy is under 60 % of the checkpoint; resuming from it gives the same
    step, weights and data order, and moments equal to bfloat16 precision."""
    from mspviewer.cli import main
    from mspviewer.train.loop import CHECKPOINT_NAME

    straight = Trainer(settings_for(image_folder, tmp_path / "a", 6), progress=False)
    straight.run()
    Trainer(settings_for(image_folder, tmp_path / "b", 3), progress=False).run()
    full = tmp_path / "b" / CHECKPOINT_NAME
    saved = torch.load(full, weights_only=True)
    packed_dir = tmp_path / "packed"
    assert main(["pack-checkpoint", str(full), "-o", str(packed_dir / CHECKPOINT_NAME)]) == 0
    assert (packed_dir / CHECKPOINT_NAME).stat().st_size < 0.6 * full.stat().st_size

    resumed = Trainer(settings_for(image_folder, packed_dir, 6), progress=False)
    resumed.load_checkpoint()
    assert "hand-off copy" in capsys.readouterr().err
    assert resumed.step == 3
    for key, value in saved["model"].items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    for index, state in saved["optimizer"]["state"].items():
        moments = resumed.optimizer.state_dict()["state"][index]
        for key in ("exp_avg", "exp_avg_sq"):
            assert moments[key].dtype == torch.float32
            torch.testing.assert_close(moments[key], state[key], rtol=2 ** -8, atol=0)
    resumed.run(resume=True)
    assert resumed.step == 6
    logs = [[json.loads(line) for line in open(path)]
            for path in (tmp_path / "a" / "log.jsonl", packed_dir / "log.jsonl")]
    assert [(r["lambda"], r["crop"]) for r in logs[0][3:]] == \
        [(r["lambda"], r["crop"]) for r in logs[1]]
    for x, y in zip(logs[0][3:], logs[1]):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-2)


TRAIN_OPTIONS_OUT_OF_RANGE = [
    ("--batch-size", "0"), ("--batch-size", "-2"), ("--batch-size", "two"),
    ("--crop", "0"), ("--crop", "-8"), ("--crop", "0:128,100:0"), ("--crop", "0:128,100:-4"),
    ("--crop", "100:256,0:128"), ("--crop", "0:128,0:256"), ("--crop", "-5:128"),
    ("--crop", "5:128"), ("--crop", "0:128:3"), ("--crop", "0:"),
    ("--lr", "nan"), ("--lr", "0"), ("--lr", "-1e-4"), ("--lr", "inf"), ("--lr", "fast"),
    ("--steps", "-5"), ("--steps", "0"), ("--warmup", "-1"),
    ("--lr-drop", "0"), ("--lr-drop", "-3"),
    ("--checkpoint-minutes", "0"), ("--checkpoint-minutes", "-1"),
    ("--checkpoint-minutes", "nan"), ("--checkpoint-minutes", "inf"),
    ("--seed", "-1"), ("--seed", str(2 ** 32)),
    ("--lambdas", "nan"), ("--lambdas", "-0.01"), ("--lambdas", "inf"),
    ("--ema-decay", "1"), ("--ema-decay", "-0.1"), ("--ema-decay", "nan"),
    ("--ema-decay", "most"),
]


@pytest.mark.parametrize("option, value", TRAIN_OPTIONS_OUT_OF_RANGE)
def test_train_options_out_of_range_are_refused_by_the_parser(image_folder, tmp_path, capsys,
                                                              option, value):
    """Refused by argparse (exit 2, naming the option) before anything is created, instead of
    an internal error (a batch of 0, a crop of 0, lr nan) or a run that trains nothing."""
    from mspviewer.cli import main

    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as refused:
        main(["train", str(image_folder), "--run-dir", str(run_dir), "--preset", "tiny",
              "--no-progress", "--precision", "fp32", "--steps", "1", "--batch-size", "1",
              "--crop", "48", f"{option}={value}"])
    err = capsys.readouterr().err
    assert refused.value.code == 2
    assert f"argument {option}" in err and "Traceback" not in err, err
    assert not run_dir.exists()


SETTINGS_OUT_OF_RANGE = [
    ("steps", 0), ("steps", 2.5), ("batch_size", 0), ("log_every", 0), ("log_every", True),
    ("warmup_steps", -1), ("lr_drops", (0,)), ("seed", -1), ("seed", 2 ** 32),
    ("learning_rate", 0.0), ("learning_rate", float("nan")), ("clip_norm", -1.0),
    ("checkpoint_minutes", float("inf")), ("ema_decay", 1.0), ("ema_decay", -0.5),
    ("precision", "fp16"), ("crop_schedule", ()), ("crop_schedule", ((0, 0),)),
    ("crop_schedule", ((5, 128),)), ("crop_schedule", ((0, 128), (0, 256))),
    ("crop_schedule", ((0, 128.5),)), ("crop_schedule", (128,)), ("compile_networks", 1),
]


@pytest.mark.parametrize("name, value", SETTINGS_OUT_OF_RANGE)
def test_settings_built_by_a_script_are_checked_like_the_options(tmp_path, name, value):
    """A script that builds TrainSettings itself gets a TrainingError naming the field, not
    a run that logs nothing (log_every 0 divides by zero) or trains on empty crops."""
    from mspviewer.errors import TrainingError

    with pytest.raises(TrainingError, match=name.replace("_", "[_ ]") + "|crop"):
        TrainSettings(data=str(tmp_path), run_dir=str(tmp_path / "run"), **{name: value})


def test_settings_at_their_limits_are_accepted(tmp_path):
    settings = TrainSettings(data=str(tmp_path), run_dir=str(tmp_path / "run"), steps=1,
                             batch_size=1, log_every=1, warmup_steps=0, lr_drops=[1],
                             seed=2 ** 32 - 1, ema_decay=0.0, precision="auto",
                             crop_schedule=[[0, 1], [10, 256]])
    assert settings.crop_schedule == ((0, 1), (10, 256))  # lists from a checkpoint's JSON
    assert settings.lr_drops == (1,)
    assert (settings.crop_at(9), settings.crop_at(10)) == (1, 256)


def test_train_options_at_their_limits_are_accepted():
    from mspviewer.cli import build_parser

    args = build_parser().parse_args(
        ["train", "data", "--steps", "1", "--batch-size", "1", "--crop", "0:128,60000:256",
         "--lr", "2e-4", "--warmup", "0", "--lr-drop", "1", "--lr-drop", "300000",
         "--checkpoint-minutes", "0.5", "--seed", "0", "--lambdas", "0.01", "0.0018",
         "--ema-decay", "0"])
    assert args.crop == ((0, 128), (60000, 256))
    assert (args.steps, args.batch_size, args.warmup, args.lr_drop) == (1, 1, 0, [1, 300000])
    assert (args.lr, args.checkpoint_minutes, args.lambdas) == (2e-4, 0.5, [0.01, 0.0018])
    assert args.ema_decay == 0.0
    assert build_parser().parse_args(["train", "data", "--crop", "1"]).crop == ((0, 1),)


def test_export_and_pack_refuse_an_output_they_cannot_or_must_not_write(image_folder,
                                                                        tmp_path, capsys):
    """A folder in the output's place, a file where its folder should be, the checkpoint
    itself, or (export) a .md name the model card would overwrite: one line, exit 2, before
    any work, nothing written. A missing folder is created, as it always was."""
    from mspviewer.cli import main

    run_dir = tmp_path / "run"
    Trainer(settings_for(image_folder, run_dir, 1, "fp32"), progress=False).run()
    checkpoint = run_dir / "checkpoint.pt"
    saved = checkpoint.read_bytes()
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    refusals = {
        "export-model": [("folder", "is a folder"), ("afile/m.pt", "is a file"),
                         (checkpoint, "is the input"), ("m.md", "model card")],
        "pack-checkpoint": [("folder", "is a folder"), ("afile/c.pt", "is a file"),
                            (checkpoint, "is the input")],
    }
    for command, cases in refusals.items():
        for output, message in cases:
            capsys.readouterr()
            code = main([command, str(checkpoint), "-o", str(tmp_path / output)])
            err = capsys.readouterr().err
            assert code == 2 and message in err, (command, output, err)
            assert len(err.strip().splitlines()) == 1, err
    assert checkpoint.read_bytes() == saved
    assert sorted(tmp_path.rglob("*")) == before  # no partial or temporary file left

    assert main(["export-model", str(checkpoint), "-o", str(tmp_path / "new" / "m.pt")]) == 0
    packed = tmp_path / "new2" / "c.pt"
    assert main(["pack-checkpoint", str(checkpoint), "-o", str(packed)]) == 0
    assert (tmp_path / "new" / "m.pt").is_file() and (tmp_path / "new" / "m.md").is_file()
    assert packed.is_file()


def _training_script(name: str):
    return load_script("training", name)


def test_data_pack_stays_within_its_budget_round_robin(image_folder, tmp_path):
    """Every image gives a tile before any gives a second; the bytes never pass the budget;
    tiles are the source pixels up to JPEG q95; the same seed gives the same pack."""
    pack = _training_script("make_data_pack")
    summary = pack.make_pack(image_folder, tmp_path / "a", budget_bytes=10**6, tile=48)
    assert summary["images_covered"] == summary["usable_images"] == 3
    files = sorted((tmp_path / "a").iterdir())
    assert sum(f.stat().st_size for f in files) == summary["bytes"] <= 10**6
    assert summary["files"] == len(files) == 3 * 16  # all rounds fit in a large budget
    first_four = ["0000-0-t0.jpg", "0001-1-t0.jpg", "0002-2-t0.jpg", "0000-0-t1.jpg"]
    budget = sum((tmp_path / "a" / name).stat().st_size for name in first_four)
    small = pack.make_pack(image_folder, tmp_path / "b", budget_bytes=budget + 10, tile=48)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(first_four)
    assert small["bytes"] == budget and small["images_covered"] == 3
    again = pack.make_pack(image_folder, tmp_path / "c", budget_bytes=budget + 10, tile=48)
    assert again == dict(small, output=str(tmp_path / "c"))
    for name in first_four:
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    source = np.asarray(Image.open(image_folder / "1.png")).astype(float)
    (top, left), = pack.tile_positions(96, 120, 48, 1, np.random.default_rng([0, 1]))
    tile = np.asarray(Image.open(tmp_path / "a" / "0001-1-t0.jpg")).astype(float)
    mse = np.mean((source[top:top + 48, left:left + 48] - tile) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 35  # the source's pixels, up to JPEG q95

    from mspviewer.errors import TrainingError

    with pytest.raises(TrainingError, match="not empty"):  # never mixed with an older pack
        pack.make_pack(image_folder, tmp_path / "a", budget_bytes=10**6, tile=48)
    with pytest.raises(TrainingError, match="200 px"):
        pack.make_pack(image_folder, tmp_path / "d", budget_bytes=10**6, tile=200)
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_gpu_session_script_runs_here_on_the_cpu(tmp_path):
    """training/gpu_session.sh with DEVICE=cpu: trains from the committed hand-off copy for
    a few seconds and hands back checkpoint parts that rebuild a resumable checkpoint."""
    import shutil

    repo = Path(__file__).resolve().parents[1]
    data = tmp_path / "data"
    _training_script("make_data_pack").make_pack(repo.parent / "shared" / "data" / "train"
                                                 if (repo.parent / "shared").is_dir()
                                                 else repo / "resources", data, 2 * 10**6,
                                                 tile=256)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OUT=str(out), RUN_DIR=str(tmp_path / "run"), DEVICE="cpu",
               MINUTES="0.3", PYTHON=sys.executable, DATA=str(data))
    done = subprocess.run(["bash", "training/gpu_session.sh"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    parts = sorted(out.glob("checkpoint.pt.part-*"))
    assert parts and all(p.stat().st_size <= 16 * 2**20 for p in parts)
    rebuilt = tmp_path / "rebuilt.pt"
    with open(rebuilt, "wb") as handle:
        for part in parts:
            shutil.copyfileobj(open(part, "rb"), handle)
    payload = torch.load(rebuilt, weights_only=True)
    start = torch.load(repo / "training" / "msp-default" / "checkpoint.pt", weights_only=True)
    assert payload["step"] > start["step"] and "handoff" in payload
    assert (out / "msp-default.pt").is_file() and (out / "log.jsonl").is_file()


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("setting, message", [({"MINUTES": "abc"}, "MINUTES must be"),
                                              ({"DEVICE": "cuda"}, "cannot run the trainer")])
def test_gpu_session_script_refuses_before_training(tmp_path, setting, message):
    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "data").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OUT=str(out), RUN_DIR=str(tmp_path / "run"), DEVICE="cpu",
               MINUTES="0.3", PYTHON=sys.executable, DATA=str(tmp_path / "data"))
    env.update(setting)
    done = subprocess.run(["bash", "training/gpu_session.sh"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert not list(out.iterdir()) and not (tmp_path / "run" / "checkpoint.pt").exists()
