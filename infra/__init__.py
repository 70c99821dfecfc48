"""The serverless-mlops Pulumi program: configuration, names, contracts and the per-role stack builders."""
