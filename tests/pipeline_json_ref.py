"""Recompute a schedule from `imcsim map --format json` alone, one pixel at a time: the reference a script would
write, used by the map tests (a core preset alone and systems)."""

from __future__ import annotations


def recompute_pipeline(layers: list[dict]) -> dict[str, list[float]]:
    """The schedule from the JSON alone, one pixel at a time: a pixel waits for its producers' receptive-field pixel
    (or all their pixels), for its own pixel q - copies and, for a row that runs as a whole, for the row before it
    on the same unit (``after``); it takes pixel_time_s."""
    fin: dict[str, list[float]] = {}
    shape = {r["name"]: r["depends"]["out_hw"] for r in layers}
    for r in layers:
        w = r["depends"]["out_hw"][1]
        t, d, out = r["pixel_time_s"], r["copies"], []
        for q in range(r["pixels"]):
            ready = max(fin[r["after"]]) if r.get("after") else 0.0
            for p in r["inputs"]:
                ph, pw = shape[p]
                if r["depends"]["kind"] == "all" or len(fin[p]) != ph * pw:
                    ready = max(ready, max(fin[p]))
                    continue
                (kh, kw), (sh, sw), (pdh, pdw) = r["depends"]["kernel"], r["depends"]["stride"], r["depends"]["padding"]
                i, j = divmod(q, w)
                row = max(min(sh * i + kh - 1 - pdh, ph - 1), 0)
                col = max(min(sw * j + kw - 1 - pdw, pw - 1), 0)
                ready = max(ready, fin[p][row * pw + col])
            if q >= d:
                ready = max(ready, out[q - d])
            out.append(ready + t)
        fin[r["name"]] = out
    return fin
