# headlab's models in PyTorch (issue #30): the lab's llama2.c, Hugging Face, headlab-dha and headlab-mla models read into one
# nn.Module whose logits equal the lab's (src/reference/transformer.ts forwardRef). Torch only; see python/README.md.
from .errors import ModelFormatError
from .loaders import load_model
from .model import HeadlabModel
from .safetensors import SafetensorsFile, write_safetensors

__all__ = ['HeadlabModel', 'ModelFormatError', 'SafetensorsFile', 'load_model', 'write_safetensors']
