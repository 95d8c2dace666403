import os, sys, torch
sys.path.insert(0, os.getcwd())
from pathlib import Path
from asdlib.layout import list_clips
from asdlib.recipes import baseline_config
from asdlib.windows import load_inputs
from asdlib.training import train
clips = list_clips(Path("/tmp/gpu-bench/data/dev_data"), "fan", split="train")[::50]
def rel(a, b):
    a, b = a.state_dict(), b.state_dict(); ks = [k for k in a if a[k].is_floating_point()]
    return (sum(float((a[k].double()-b[k].double()).square().sum()) for k in ks) / sum(float(a[k].double().square().sum()) for k in ks)) ** .5
for cfg in [baseline_config("ae", epochs=2, batch_size=256), baseline_config("mbv2", epochs=2, train_hop=32, lr=1e-4)]:
    feats = load_inputs(clips, "/tmp/gpu-bench/cache", cfg, progress=False)
    out = {}
    for name, g, r in [("eager", "0", "0"), ("eager2", "0", "0"), ("graphs", "1", "0"), ("resident", "0", "1"), ("both", "1", "1")]:
        os.environ["ASDLIB_CUDA_GRAPHS"], os.environ["ASDLIB_RESIDENT"] = g, r
        t = train(feats, cfg, device="cuda", progress=False)
        out[name] = t
        print(cfg.model, name, "rel diff vs eager", rel(out["eager"].model, t.model), "loss", t.history["train_loss"].tolist(), flush=True)
