"""The bottom layer: errors, paths, file helpers, the manifest and the action value. Imports no other ppm code but ppm.targets."""
