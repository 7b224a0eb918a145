"""HTTP adapter for Meta's Graph API: the /events client (`client`, holds the tokens), the
delivery policy (`delivery`), dataset holds (`holds`), the Dataset Quality client (`quality`)."""
