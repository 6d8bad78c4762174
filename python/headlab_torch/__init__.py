# headlab's models in PyTorch (issue #30): the lab's llama2.c, Hugging Face, headlab-dha and headlab-mla models read into one
# nn.Module whose logits equal the lab's (src/reference/transformer.ts forwardRef), trained with the lab's recipe and batches
# over several processes (train.py), and written back as the lab writes them (export.py). Torch only; see python/README.md.
from .data import WindowSampler, seeded_random
from .errors import ModelFormatError
from .export import export_model
from .loaders import load_model
from .model import HeadlabModel
from .safetensors import SafetensorsFile, write_safetensors

__all__ = ['HeadlabModel', 'ModelFormatError', 'SafetensorsFile', 'WindowSampler', 'export_model', 'load_model', 'seeded_random', 'write_safetensors']
