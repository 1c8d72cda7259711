"""Compiled optics kernels: camera models, refocusing, PSFs, Wiener deconvolution, the DDFS cost volume,
thin-lens rendering and classical depth from focus. Imports nothing else of the package but its error family."""
from ddff_jax.optics.camera import (DDFF_CAMERA, DEFOCUSNET_CAMERA, DEFOCUSNET_FOCUS_DISTANCES_M, NYU_CAMERA,
                                    NYU_FOCUS_DISTANCES_M, LightFieldCamera, ThinLensCamera)
from ddff_jax.optics.cost_volume import (COST_CRITERIA, DDFS_TANH_SCALE, ddfs_depth_hypotheses, defocus_cost_volume,
                                         normalize_cost_volume)
from ddff_jax.optics.dff import (FOCUS_MEASURES, all_in_focus_from_stack, best_focus_index, depth_from_focus,
                              focus_measure, index_to_value)
from ddff_jax.optics.filters import box_filter, correlate1d, gaussian_filter, gaussian_kernel1d
from ddff_jax.optics.psf import (disk_otf, disk_psf, disk_support, gaussian_otf, gaussian_psf, psf_to_otf,
                                 symmetric_psf_otf)
from ddff_jax.optics.refocusing import all_in_focus, centre_view, refocus, to_uint8, to_unit_float
from ddff_jax.optics.render import render_defocus, render_focal_stack
from ddff_jax.optics.registration import register_stack
from ddff_jax.optics.deconvolution import laplacian_otf, wiener, wiener_deconvolve_spectrum, wiener_filter
