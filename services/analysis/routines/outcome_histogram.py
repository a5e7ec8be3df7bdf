"""lyse multi-shot routine: how often each outcome occurred in the experiment -> /results/outcome_histogram.

An ordinary lyse multi-shot routine: ``lyse.data()`` is the experiment's DataFrame (in the lyse
GUI, the GUI's DataFrame; in shotline's analysis service, the DataFrame built from the
experiment's archived shots), and ``lyse.path`` is the HDF5 file the results are saved to.
"""

import json

import lyse

df = lyse.data()
memory = df["occupation", "memory"].fillna("").astype(str)
counts = {str(outcome): int(n) for outcome, n in memory.value_counts().sort_index().items()}

run = lyse.Run(lyse.path)
run.save_results_dict({
    "counts_json": json.dumps(counts, sort_keys=True),
    "n_shots": int(len(df)),
    "n_outcomes": len(counts),
})
