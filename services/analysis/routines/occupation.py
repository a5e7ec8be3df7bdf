"""lyse single-shot routine: the number of atoms at every imaged site -> /results/occupation.

An ordinary lyse routine: load it in the lyse GUI, or let shotline's analysis service run it
headless exactly as lyse would. It reads the fluorescence image the camera took at `measure`
(/images/top/fluorescence/atoms; one site per measured wire, in the order of the measure
instructions) and saves, in the results group named after this file:

    memory      the shot's outcome: the atom count of each site, space-separated
                (occupation for fermions and rydberg, level index for the qudit backends)
    n_sites     how many sites were read
    background  the per-pixel background the counts were corrected with
    site_counts (array) background-subtracted counts per site

A shot without a measurement has no image; its memory is the empty string.
"""

import numpy as np
from lyse import Run, path

from services.common.imaging import BACKGROUND_PER_PIXEL, read_fluorescence, site_counts

ORIENTATION, LABEL, FRAME = "top", "fluorescence", "atoms"

run = Run(path)
with run.open("r+"):
    images = run.h5_file.get("images")
    taken = images is not None and f"{ORIENTATION}/{LABEL}/{FRAME}" in images
    if taken:
        image = run.get_image(ORIENTATION, LABEL, FRAME)
        levels = read_fluorescence(image)
        counts = site_counts(image)
    else:
        levels, counts = [], np.zeros(0)
    run.save_results_dict({
        "memory": " ".join(str(level) for level in levels),
        "n_sites": len(levels),
        "background": BACKGROUND_PER_PIXEL,
    })
    run.save_result_array("site_counts", counts)
