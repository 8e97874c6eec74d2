"""What Cloud Assistant says: the API's invocation records (ECS and Lingjun/eflo) as typed models; the core decides from them, the clients in lib.cloud produce them."""
