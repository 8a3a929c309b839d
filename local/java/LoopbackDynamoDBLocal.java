// Starts DynamoDB Local bound to one host (default 127.0.0.1) instead of every interface.
//
// DynamoDB Local has no host option: its DynamoDBProxyServer builds a Jetty Server(port),
// whose connector listens on all interfaces. This launcher builds the same server from
// the same command line, sets the host of its Jetty connector, and only then starts it.
// It also exits when its standard input closes, so it cannot outlive the Python process
// that started it (the runner keeps a pipe to it open for that purpose).
//
// Host: system property -Dmall.bindHost=127.0.0.1. Everything else: DynamoDB Local's own
// command line (-port, -inMemory, -dbPath, -sharedDb, -disableTelemetry, ...).

import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.io.InputStream;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public final class LoopbackDynamoDBLocal {
    private LoopbackDynamoDBLocal() {}

    public static void main(String[] args) throws Exception {
        String host = System.getProperty("mall.bindHost", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        int bound = 0;
        for (Connector connector : server.getConnectors()) {
            if (connector instanceof ServerConnector) {
                ((ServerConnector) connector).setHost(host);
                bound++;
            }
        }
        if (bound == 0) {
            System.err.println("LoopbackDynamoDBLocal: no Jetty connector to bind; refusing to start");
            System.exit(3);
        }
        if (Boolean.getBoolean("mall.exitOnStdinClose")) {
            Thread watchdog = new Thread(() -> {
                try {
                    InputStream in = System.in;
                    while (in.read() != -1) {
                        // ignore input; wait for end of stream
                    }
                } catch (Exception ignored) {
                    // treat as closed
                }
                Runtime.getRuntime().halt(0);
            }, "stdin-watchdog");
            watchdog.setDaemon(true);
            watchdog.start();
        }
        proxy.start();
        System.out.println("LoopbackDynamoDBLocal: listening on " + host);
        System.out.flush();
    }
}
