#!/bin/bash
# after members 1 and 2: members 0 and 3 with factor 0.1 and 200 steps
while [ $(grep -c "forecast done" /tmp/s24/times) -lt 4 ]; do sleep 10; done
/tmp/s24/lr.sh 0 0.1 200 & /tmp/s24/lr.sh 3 0.1 200 & wait
