"""Values: blocks, turns, parameters, settings, model capabilities, tools."""
