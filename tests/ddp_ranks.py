"""Run by tests/test_ddp.py under `mpiexec -n N`: N ranks train the tiny model for a few steps
with tinyllm/ddp.py's batch split and gradient all-reduce, comparing the ranks' weight hashes
after every step. Rank 0 writes OUT (npz): the losses, grad norms, final weights, and whether
the hashes agreed at each step. (Not collected by pytest: no test_ prefix.)

    python tests/ddp_ranks.py OUT DTYPE STEPS BATCH_PER_RANK
    python tests/ddp_ranks.py OUT desync        (the weight-hash check must catch a 1-ulp difference)
"""
import sys

import numpy as np

from tinyllm import ddp
from tinyllm.train import train_step

import ddp_setup                                           # the shared model, data and step settings


def main(out, dtype, steps, batch_size):
    parallel = ddp.DataParallel()
    model, opt, tokens, rng = ddp_setup.build(dtype)
    losses, norms, agreed = [], [], []
    for _ in range(steps):
        batch = parallel.get_batch(tokens, batch_size, ddp_setup.CONTEXT, rng)
        loss, norm = train_step(model, opt, [batch], ddp_setup.LR, ddp_setup.CLIP, parallel.all_reduce)
        hashes = np.empty((parallel.size, 32), dtype=np.uint8)        # every rank's sha256 of its weights
        parallel.comm.Allgather(np.frombuffer(ddp.weights_hash(opt), dtype=np.uint8), hashes)
        losses.append(loss)
        norms.append(norm)
        agreed.append(bool((hashes == hashes[0]).all()))
    if parallel.rank == 0:
        np.savez(out, losses=losses, norms=norms, agreed=agreed, flat=opt.flat, ranks=parallel.size)


def desync(out):
    """Rank 1 changes one weight by one ulp: DataParallel.sync must notice on every rank."""
    parallel = ddp.DataParallel()
    _, opt, _, _ = ddp_setup.build("float32")
    assert parallel.sync(0.5, opt) == 0.5                   # equal weights: no complaint
    if parallel.rank == 1:
        opt.flat[123] = np.nextafter(opt.flat[123], np.float32(1))
    try:
        parallel.sync(0.5, opt)
        caught = ""
    except ddp.train.TrainingError as e:
        caught = str(e)
    if parallel.rank == 0:
        with open(out, "w") as f:
            f.write(caught)


if __name__ == "__main__":
    if sys.argv[2] == "desync":
        desync(sys.argv[1])
    else:
        main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
