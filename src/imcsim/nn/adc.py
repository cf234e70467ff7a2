"""The output ADC inside torch: the converter instances of :mod:`imcsim.circuit.adc` (one model of the ideal and the
non-ideal converter for circuit/ and nn/) read with straight-through gradients (Bengio et al., arXiv 1308.3432), so
the ADC can sit inside noise-aware training."""

from __future__ import annotations

import torch

from imcsim.circuit.adc import ADCInstances, adc_codes, ideal_adc, sample_adc

__all__ = ["ADCInstances", "ideal_adc", "sample_adc", "adc_read"]


def adc_read(v: torch.Tensor, adc: ADCInstances) -> torch.Tensor:
    """Digitise voltages ``v`` (batch, n) (V) with instance j reading column j; returns ``code * lsb`` (V).

    Forward: :func:`imcsim.circuit.adc.adc_codes` (the number of thresholds at or below ``gain * v + offset``).
    Backward: identity (straight-through).
    """
    if v.shape[-1] != adc.n:
        raise ValueError(f"adc_read: {v.shape[-1]} outputs but {adc.n} ADC instances")
    codes = adc_codes(v.detach().cpu().double().numpy(), adc)
    q = torch.as_tensor(codes * adc.lsb_v, dtype=v.dtype, device=v.device)
    return v + (q - v).detach()
