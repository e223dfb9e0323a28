"""Run by tests/test_ddp.py under `mpiexec -n N`: N ranks train the tiny model for a few steps
with tinyllm/ddp.py's batch split and gradient all-reduce, comparing the ranks' weight hashes
after every step. Rank 0 writes OUT (npz): the losses, grad norms, final weights, and whether
the hashes agreed at each step. (Not collected by pytest: no test_ prefix.)

    python tests/ddp_ranks.py OUT DTYPE STEPS BATCH_PER_RANK
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
        hashes = parallel.comm.allgather(ddp.weights_hash(opt))      # every rank's sha256 of its weights
        losses.append(loss)
        norms.append(norm)
        agreed.append(all(h == hashes[0] for h in hashes))
    if parallel.rank == 0:
        np.savez(out, losses=losses, norms=norms, agreed=agreed, flat=opt.flat, ranks=parallel.size)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
