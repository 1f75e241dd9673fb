"""Local diffusion models (SDXL + ControlNet through diffusers): the optional ``sketchgen[local]`` family."""
