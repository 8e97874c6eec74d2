"""The cloud clients: signed OpenAPI calls (aliyun), Cloud Assistant for ECS and Lingjun (cloudassist), STS, instance tags."""
