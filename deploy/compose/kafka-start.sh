#!/bin/bash
# docker-compose.yml's Kafka: the apache/kafka image with SASL/SCRAM-SHA-512 and ACLs, as the
# local broker of infra/stack.py. The principals' passwords are compose secrets (make keys writes
# them to .llr/keys/kafka); fresh storage is formatted with every principal's SCRAM credentials
# (the image's own start-up then finds it formatted), the broker logs in to itself as llr-admin.
# The ACLs are created by the one-shot kafka-acls service (services/common/kafka_security.py).
set -euo pipefail
secret() { tr -d '\n' < "/run/secrets/kafka_$1"; }
ADMIN_PASSWORD="$(secret llr-admin)"
JAAS="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"llr-admin\" password=\"${ADMIN_PASSWORD}\";"
export KAFKA_LISTENER_NAME_SASL__PLAINTEXT_SCRAM___SHA___512_SASL_JAAS_CONFIG="$JAAS"

if [ ! -f "${KAFKA_LOG_DIRS}/meta.properties" ]; then
  cat > /tmp/format.properties <<PROPS
process.roles=broker,controller
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS}
controller.listener.names=CONTROLLER
listeners=${KAFKA_LISTENERS}
listener.security.protocol.map=${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP}
inter.broker.listener.name=SASL_PLAINTEXT
log.dirs=${KAFKA_LOG_DIRS}
PROPS
  scram=()
  for principal in llr-admin accounts certification enrolments kpi population-feed kpi-consumer; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=${principal},password=$(secret "$principal")]")
  done
  /opt/kafka/bin/kafka-storage.sh format --cluster-id "${CLUSTER_ID}" -c /tmp/format.properties \
    --ignore-formatted "${scram[@]}"
  rm -f /tmp/format.properties
fi

# The healthcheck's client configuration (kafka-topics.sh as llr-admin).
umask 077
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=%s\n' "$JAAS" > /tmp/admin.properties
exec /etc/kafka/docker/run
