"""Versioned prompt templates, loaded from ``templates.yaml`` beside this file."""

from generators.prompts.library import PromptTemplate, load_templates, template

__all__ = ["PromptTemplate", "load_templates", "template"]
