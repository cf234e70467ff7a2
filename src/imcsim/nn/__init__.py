"""imcsim.nn: hardware-aware torch layers for mixed-precision training.

Quantizers with straight-through estimators and int-N digital layers (:mod:`imcsim.nn.quant`), the IMAC dense layer
(:mod:`imcsim.nn.imac_linear`), crossbar non-idealities (:mod:`imcsim.nn.nonideal`), the ADC model
(:mod:`imcsim.nn.adc`) and ``convert(model, target)`` (:mod:`imcsim.nn.convert`); the IMC core layers with
ADC-quantised partial sums (:mod:`imcsim.nn.imc_layers`) and ``convert_imc`` (:mod:`imcsim.nn.imc_convert`).
"""

from imcsim.nn.adc import ADCInstances, adc_read, ideal_adc, sample_adc
from imcsim.nn.convert import TARGETS, HybridModel, clip_latent_, convert
from imcsim.nn.imac_linear import IMACLinear, dac_quantize
from imcsim.nn.imc_convert import IMC_TARGETS, IMCModel, convert_imc
from imcsim.nn.imc_layers import ADCTable, IMCConv2d, IMCLinear
from imcsim.nn.nonideal import (IR_DROP_MODES, Chip, NonIdealities, effect_rng, ir_drop_exact, ir_drop_factors,
                                program_chip, read_noise_current, sample_chip)
from imcsim.nn.quant import (ActQuant, QuantConv2d, QuantLinear, binarize, fake_quant_weight, quantize_imac_weight,
                             quantize_symmetric, quantize_unsigned, ste_round, ternarize, weight_scale_per_channel)

__all__ = [
    "ADCInstances", "adc_read", "ideal_adc", "sample_adc",
    "TARGETS", "HybridModel", "clip_latent_", "convert",
    "IMACLinear", "dac_quantize",
    "IMC_TARGETS", "IMCModel", "convert_imc", "ADCTable", "IMCConv2d", "IMCLinear",
    "IR_DROP_MODES", "Chip", "NonIdealities", "effect_rng", "ir_drop_exact", "ir_drop_factors", "program_chip",
    "read_noise_current", "sample_chip",
    "ActQuant", "QuantConv2d", "QuantLinear", "binarize", "fake_quant_weight", "quantize_imac_weight",
    "quantize_symmetric", "quantize_unsigned", "ste_round", "ternarize", "weight_scale_per_channel",
]
