"""Does a kernel table measured now agree with one measured earlier, whatever the machine is doing?

Usage: python benchmarks/kernel_table_load.py --table COSTS.json [--graph squeezenet1_1] [--kernels 30]

The measured cost model times each kernel run for run beside a reference
Conv and stores the median ratio times the reference's calibrated time
(rlgraph_xflow/graphs/kernel_costs.py), so that load while a table fills
cancels. This benchmark checks that claim: it takes a table measured earlier
(ideally on a quiet machine) and re-measures the first `--kernels` kernels of
a zoo graph now, twice: paired with the reference, scaled by the table's own
calibrated reference time, and alone, as the table was filled before the
reference existed. Run it while the machine is loaded (tests, a training run)
to see what load does to each.

Per kernel it prints the table's time and the two new ones; the last line:
`kernel_table_load GRAPH kernels=N paired=X.XXx alone=Y.YYx load_1min=L`
(the sums of the new times over the table's, and the 1-minute load average).
"""
import argparse
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="a cost cache file (costs.json) holding this machine's table")
    parser.add_argument("--graph", default="squeezenet1_1", help="zoo graph whose kernels are re-measured (default squeezenet1_1)")
    parser.add_argument("--kernels", type=int, default=30, help="how many of its kernels (default 30)")
    arguments = parser.parse_args(argv)
    if arguments.kernels < 1:
        print("error: --kernels must be >= 1", file=sys.stderr)
        return 2
    if not os.path.isfile(arguments.table):
        print(f"error: --table '{arguments.table}' is not a file", file=sys.stderr)
        return 2

    from rlgraph_xflow.graphs import load, zoo
    from rlgraph_xflow.graphs.cost_cache import CostCache
    from rlgraph_xflow.graphs.kernel_costs import REFERENCE_KEY, ReferenceKernel, local_device_name, measure_kernel

    table = CostCache(arguments.table).entries(local_device_name())
    if REFERENCE_KEY not in table:
        print(f"error: '{arguments.table}' has no table of this machine with a calibrated reference ({local_device_name()!r})", file=sys.stderr)
        return 2
    reference = ReferenceKernel(table[REFERENCE_KEY])
    descriptors = [d for d in load(zoo.build(arguments.graph)).engine.kernel_descriptors() if d["kernel_key"] in table]
    descriptors = descriptors[: arguments.kernels]
    if not descriptors:
        print(f"error: the table holds none of {arguments.graph}'s kernels; run the measured model on it first", file=sys.stderr)
        return 2
    earlier = paired = alone = 0.0
    for descriptor in descriptors:
        stored = table[descriptor["kernel_key"]]
        with_reference = measure_kernel(descriptor, reference=reference)
        by_itself = measure_kernel(descriptor)
        earlier, paired, alone = earlier + stored, paired + with_reference, alone + by_itself
        print(f"{descriptor['kernel_key'][:48]:48s} table {stored:.4f} ms  paired {with_reference:.4f} ms  alone {by_itself:.4f} ms")
    load_average = os.getloadavg()[0]
    print(f"kernel_table_load {arguments.graph} kernels={len(descriptors)} paired={paired / earlier:.2f}x "
          f"alone={alone / earlier:.2f}x load_1min={load_average:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
