"""Comments: the submission use case, field validation and its bilingual messages."""
