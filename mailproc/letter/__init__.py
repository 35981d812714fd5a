"""Raw bytes become a Letter, decoded once; everything downstream reads the Letter."""

from mailproc.letter.model import Address, Attachment, Bounce, Letter
from mailproc.letter.decode import decode_letter

__all__ = ["Address", "Attachment", "Bounce", "Letter", "decode_letter"]
